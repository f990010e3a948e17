"""Discriminator diagnostics: singular values of the raw weights and real/fake accuracies."""

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from pairless.models.base import Method
from pairless.nn.conditional import ConditionalDiscriminator
from pairless.train.diagnostics import collect_diagnostics, discriminator_accuracies, largest_singular_values


def test_singular_values_are_those_of_every_raw_discriminator_weight():
    torch.manual_seed(0)
    d = ConditionalDiscriminator("resnet", "projgan", 32, 3, num_classes=4, width=4, embed_dim=8)
    with torch.no_grad():
        for p in d.parameters():
            p.mul_(1 + torch.rand(()) * 3)  # move the raw weights away from their orthogonal start
    values = largest_singular_values({"D": d})
    expected = {}
    for name, module in d.named_modules():
        if hasattr(module, "parametrizations"):
            raw = module.parametrizations.weight.original.detach()
            expected[f"diag/sigma/D.{name}"] = float(torch.linalg.matrix_norm(raw.flatten(1), ord=2))
    # 2 downsampling blocks of 3 convolutions (with shortcut), 2 of 2, the adversarial linear, the class embedding
    assert len(expected) == 2 * 3 + 2 * 2 + 2
    assert values.keys() == expected.keys()
    for key, value in expected.items():
        assert values[key] == pytest.approx(value, rel=1e-4)
    assert any(abs(v - 1) > 0.1 for v in values.values())  # not the normalised weights (whose sigma is ~1)


def test_unnormalised_and_transposed_layers_are_measured_too():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 3), nn.BatchNorm1d(3), spectral_norm(nn.ConvTranspose2d(4, 2, 3)))
    values = largest_singular_values({"N": net})
    assert set(values) == {"diag/sigma/N.0", "diag/sigma/N.2"}  # the batch norm's 1-d scale is no matrix
    sigma = float(torch.linalg.matrix_norm(net[0].weight.detach(), ord=2))
    assert values["diag/sigma/N.0"] == pytest.approx(sigma, rel=1e-4)
    raw = net[2].parametrizations.weight.original.detach().transpose(0, 1).flatten(1)
    assert values["diag/sigma/N.2"] == pytest.approx(float(torch.linalg.matrix_norm(raw, ord=2)), rel=1e-4)


class ThresholdModel(Method):
    """D calls an image real when its mean is positive; G makes images of value (label - 1)."""

    def __init__(self):
        super().__init__(config=None)
        self.D = nn.Linear(2, 2)

    def discriminator_networks(self):
        return {"D": self.D}

    def realness(self, images, labels):
        return images.flatten(1).mean(1)

    def generate(self, labels, generator=None):
        return (labels.float() - 1)[:, None, None, None].expand(-1, 1, 2, 2) + torch.rand(1, generator=generator) * 0


def test_accuracies_and_their_gap():
    batch = {"probe_train": torch.tensor([1.0, 1.0, 1.0, -1.0]).view(4, 1, 1, 1),
             "probe_train_label": torch.tensor([0, 0, 1, 2]),
             "probe_heldout": torch.tensor([1.0, -1.0]).view(2, 1, 1, 1), "probe_heldout_label": torch.tensor([0, 1])}
    values = discriminator_accuracies(ThresholdModel(), batch)
    assert values["diag/D_real_acc_train"] == 0.75 and values["diag/D_real_acc_heldout"] == 0.5
    assert values["diag/D_real_acc_gap"] == pytest.approx(0.25)
    assert values["diag/D_fake_acc"] == 0.75  # labels 0, 0, 1 give images <= 0 (fake), label 2 gives 1 (real)


def test_collect_leaves_the_random_state_and_training_mode_alone():
    model = ThresholdModel().train()
    batch = {"probe_train": torch.ones(2, 1, 2, 2), "probe_train_label": torch.tensor([0, 1])}
    state = torch.get_rng_state()
    values = collect_diagnostics(model, batch)
    assert torch.equal(torch.get_rng_state(), state) and model.training
    assert "diag/sigma/D" in values and "diag/D_fake_acc" in values
    assert collect_diagnostics(Method(config=None), batch) == {}  # no discriminator networks declared
