"""Class-conditional quality without downloads: a small classifier trained on the real images judges
generated ones.

- class accuracy: the share of images generated for class c that the classifier assigns to c (per class and
  overall); it measures whether the conditioning works;
- classifier FID: the Frechet distance between generated and real images in the classifier's penultimate
  features (as MNIST papers use a LeNet instead of Inception); it measures fidelity and diversity.

Both depend on the classifier, so compare models only under one classifier (same data, steps and seed).
Its accuracy on held-out real images is the ceiling the class accuracy can be read against.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pairless.eval.distribution import fid

FEATURE_DIM = 128


class DigitClassifier(nn.Module):
    """Three conv-ReLU-maxpool stages and a 128-d feature layer; for 32 px (or any multiple of 8) images."""

    def __init__(self, channels: int, num_classes: int, size: int = 32):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.feature = nn.Sequential(nn.Flatten(), nn.Linear(128 * (size // 8) ** 2, FEATURE_DIM), nn.ReLU())
        self.classify = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, images: Tensor) -> Tensor:
        return self.feature(self.conv(images))

    def forward(self, images: Tensor) -> Tensor:
        return self.classify(self.features(images))


def train_classifier(images: Tensor, labels: Tensor, num_classes: int, steps: int = 600, batch_size: int = 64,
                     seed: int = 0) -> DigitClassifier:
    """Adam (lr 1e-3) on random minibatches of `images` [N, C, H, W] in [-1, 1]; deterministic given `seed`."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = DigitClassifier(images.shape[1], num_classes, images.shape[-1]).to(images.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(steps):
        batch = torch.randint(len(images), (batch_size,), generator=generator).to(images.device)
        loss = F.cross_entropy(net(images[batch]), labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return net.eval()


@torch.no_grad()
def predict(classifier: DigitClassifier, images: Tensor, batch_size: int = 500) -> tuple[Tensor, Tensor]:
    """(predicted classes [N], features [N, FEATURE_DIM])."""
    features = torch.cat([classifier.features(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    return classifier.classify(features).argmax(1), features


def per_class_accuracy(predicted: Tensor, labels: Tensor, num_classes: int) -> list[float]:
    """Accuracy among the images of each class (nan for a class with no images)."""
    return [float((predicted[labels == c] == c).float().mean()) if (labels == c).any() else float("nan")
            for c in range(num_classes)]


@dataclass
class ConditionalScores:
    accuracy: float
    """Share of all images classified as their label."""
    class_accuracy: list[float]
    classifier_fid: float
    """FID in the classifier's feature space against the reference images."""

    @property
    def worst_class(self) -> float:
        return min(self.class_accuracy)


def score_images(classifier: DigitClassifier, images: Tensor, labels: Tensor, reference_features: Tensor,
                 num_classes: int) -> ConditionalScores:
    predicted, features = predict(classifier, images)
    return ConditionalScores(float((predicted == labels).float().mean()),
                             per_class_accuracy(predicted, labels, num_classes), fid(features, reference_features))


@torch.no_grad()
def generate_per_class(model, per_class: int, seed: int = 0, batch_size: int = 500) -> tuple[Tensor, Tensor]:
    """`per_class` images of every class from a class-conditional model (noise from `seed`) and their labels."""
    device = next(model.parameters()).device
    labels = torch.arange(model.num_classes, device=device).repeat_interleave(per_class)
    return generate_for_labels(model, labels, seed, batch_size, device), labels


@torch.no_grad()
def generate_for_labels(model, labels: Tensor, seed: int, batch_size: int,
                        out_device: torch.device | str) -> Tensor:
    """An image per label (float, [-1, 1]) from a class-conditional model, noise from `seed`, generated
    `batch_size` at a time; each batch moved to `out_device` as it comes."""
    generator = torch.Generator().manual_seed(seed)
    return torch.cat([model.generate(labels[i:i + batch_size], generator).float().to(out_device)
                      for i in range(0, len(labels), batch_size)])
