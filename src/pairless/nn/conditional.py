"""Class-conditional generators and discriminators for 32/64 px images (StudioGAN-style backbones).

- `dcgan` (32 px): transposed-convolution generator; the discriminator alternates 3x3 and strided 4x4
  convolutions with LeakyReLU(0.1).
- `resnet` (32 or 64 px): SNGAN-style residual up/down blocks (nearest upsampling, average pooling).
- `biggan` (32 or 64 px): the BigGAN generator of nn/biggan.py (hierarchical z, shared class embedding,
  self-attention) and the resnet discriminator with self-attention after its first block: the backbone of
  the ContraGAN paper's CIFAR-10 and Tiny ImageNet tables.

Generators are conditioned through class-conditional batch norm (a per-class gain and bias after a
parameter-free batch norm). Discriminators apply spectral norm to every layer and end in global sum pooling:
they return the feature vector phi(x) that the conditioning heads (`ConditionalHead`) read. Weights start
orthogonal, as StudioGAN initialises them.
"""

from __future__ import annotations

from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pairless.nn.biggan import BigGANGenerator
from pairless.nn.gan_layers import ResidualUpBlock, SelfAttention, conv, embedding, linear, orthogonal_layer

Backbone = Literal["dcgan", "resnet", "biggan"]
HeadKind = Literal["acgan", "projgan", "contragan"]
SIZES: dict[str, tuple[int, ...]] = {"dcgan": (32,), "resnet": (32, 64), "biggan": (32, 64)}
BN_EPS = 1e-4
"""Batch-norm epsilon of the generators (StudioGAN's)."""
D_ATTENTION_AFTER = 1
"""biggan: the discriminator's self-attention follows its first block (StudioGAN's configs)."""


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without its own affine map, followed by gain(y) * x + bias(y) with per-class gain/bias.

    Initialised as StudioGAN's, which computes gain = 1 + E0(y) and bias = E1(y) from orthogonally
    initialised embeddings: here the gains start at 1 + an orthogonal row per class, the biases at one.
    """

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False, eps=BN_EPS)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.orthogonal_(self.gain.weight)
        nn.init.orthogonal_(self.bias.weight)
        with torch.no_grad():
            self.gain.weight.add_(1.0)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        return self.norm(x) * self.gain(labels)[:, :, None, None] + self.bias(labels)[:, :, None, None]


class UpBlock(nn.Module):
    """DCGAN: transposed 4x4 convolution (x2), conditional batch norm, ReLU."""

    def __init__(self, c_in: int, c_out: int, num_classes: int, sn: bool):
        super().__init__()
        self.conv = orthogonal_layer(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), sn)
        self.norm = ConditionalBatchNorm2d(c_out, num_classes)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        return F.relu(self.norm(self.conv(x), labels))


class ConditionalGenerator(nn.Module):
    """z [N, z_dim] and labels [N] -> images [N, C, size, size] in [-1, 1]."""

    def __init__(self, backbone: Backbone, size: int, channels: int, num_classes: int, width: int, z_dim: int,
                 sn: bool = False):
        super().__init__()
        check_size(backbone, size)
        if backbone == "dcgan":
            plan = [8 * width, 4 * width, 2 * width, width]
            blocks = [UpBlock(a, b, num_classes, sn) for a, b in zip(plan, plan[1:])]
        else:
            plan = [4 * width] * 4 if size == 32 else [8 * width, 8 * width, 4 * width, 2 * width, width]
            norm = partial(ConditionalBatchNorm2d, num_classes=num_classes)
            blocks = [ResidualUpBlock(a, b, norm, sn) for a, b in zip(plan, plan[1:])]
        self.backbone, self.z_dim, self.bottom = backbone, z_dim, 4
        self.linear = linear(z_dim, plan[0] * self.bottom ** 2, sn=sn)
        self.input_norm = ConditionalBatchNorm2d(plan[0], num_classes) if backbone == "dcgan" else None
        self.blocks = nn.ModuleList(blocks)
        self.output_norm = nn.BatchNorm2d(plan[-1], eps=BN_EPS) if backbone == "resnet" else None
        self.to_image = conv(plan[-1], channels, 3, padding=1, sn=sn)

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        h = self.linear(z).view(len(z), -1, self.bottom, self.bottom)
        if self.input_norm is not None:
            h = F.relu(self.input_norm(h, labels))
        for block in self.blocks:
            h = block(h, labels)
        if self.output_norm is not None:
            h = F.relu(self.output_norm(h))
        return torch.tanh(self.to_image(h))


def build_generator(backbone: Backbone, size: int, channels: int, num_classes: int, width: int, z_dim: int,
                    sn: bool = False, shared_dim: int = 128) -> nn.Module:
    """The backbone's generator; `shared_dim` is the size of biggan's shared class embedding."""
    if backbone == "biggan":
        check_size(backbone, size)
        return BigGANGenerator(size, channels, num_classes, width, z_dim, shared_dim, sn)
    return ConditionalGenerator(backbone, size, channels, num_classes, width, z_dim, sn)


class ResidualDownBlock(nn.Module):
    """SNGAN discriminator block: (ReLU-)conv3-ReLU-conv3(-avgpool), shortcut conv1(-avgpool).
    The first block of a network takes images, so it skips the leading ReLU and pools before its shortcut."""

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = conv(c_in, c_out, 3, padding=1)
        self.conv2 = conv(c_out, c_out, 3, padding=1)
        self.shortcut = conv(c_in, c_out, 1) if (c_in != c_out or down or first) else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        return h + self._shortcut(x)

    def _shortcut(self, x: Tensor) -> Tensor:
        if self.shortcut is None:
            return x
        if self.first:
            return self.shortcut(F.avg_pool2d(x, 2) if self.down else x)
        x = self.shortcut(x)
        return F.avg_pool2d(x, 2) if self.down else x


def dcgan_discriminator_layers(channels: int, width: int) -> nn.Sequential:
    plan = [(channels, width, 3, 1), (width, width, 4, 2), (width, 2 * width, 3, 1), (2 * width, 2 * width, 4, 2),
            (2 * width, 4 * width, 3, 1), (4 * width, 4 * width, 4, 2), (4 * width, 8 * width, 3, 1)]
    layers: list[nn.Module] = []
    for c_in, c_out, kernel, stride in plan:
        layers += [conv(c_in, c_out, kernel, stride, padding=1), nn.LeakyReLU(0.1)]
    return nn.Sequential(*layers)


def residual_discriminator_plan(backbone: Backbone, size: int, channels: int, width: int) -> list[tuple]:
    """(in, out, downsample) per residual block; biggan's 64 px plan ends at 16 x width (StudioGAN's)."""
    if size == 32:
        return [(channels, 2 * width, True), (2 * width, 2 * width, True), (2 * width, 2 * width, False),
                (2 * width, 2 * width, False)]
    last = 16 * width if backbone == "biggan" else 8 * width
    return [(channels, width, True), (width, 2 * width, True), (2 * width, 4 * width, True),
            (4 * width, 8 * width, True), (8 * width, last, False)]


class DiscriminatorBody(nn.Module):
    """Images -> features phi(x) [N, feature_dim] (global sum pooling); spectral norm everywhere.
    biggan adds self-attention after the first residual block."""

    def __init__(self, backbone: Backbone, size: int, channels: int, width: int):
        super().__init__()
        check_size(backbone, size)
        if backbone == "dcgan":
            self.layers = dcgan_discriminator_layers(channels, width)
            self.feature_dim = 8 * width
        else:
            plan = residual_discriminator_plan(backbone, size, channels, width)
            blocks: list[nn.Module] = []
            for i, (a, b, down) in enumerate(plan):
                blocks.append(ResidualDownBlock(a, b, down, first=i == 0))
                if backbone == "biggan" and i + 1 == D_ATTENTION_AFTER:
                    blocks.append(SelfAttention(b, sn=True))
            self.layers = nn.Sequential(*blocks, nn.ReLU())
            self.feature_dim = plan[-1][1]

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x).sum(dim=(2, 3))


class ConditionalHead(nn.Module):
    """The discriminator's outputs from phi(x) and the labels y, per conditioning method:

    - every head: the adversarial logit psi(phi) (linear);
    - acgan: class logits from a linear classifier on phi;
    - projgan: the logit becomes psi(phi) + <embed(y), phi> (Miyato & Koyama);
    - contragan: a linear projection h(phi) and the class proxies e(y), compared by the 2C loss.
    """

    def __init__(self, kind: HeadKind, feature_dim: int, num_classes: int, embed_dim: int):
        super().__init__()
        self.kind = kind
        self.adversarial = linear(feature_dim, 1)
        if kind == "acgan":
            self.classifier = linear(feature_dim, num_classes)
        elif kind == "projgan":
            self.class_embedding = embedding(num_classes, feature_dim)
        elif kind == "contragan":
            self.projection = linear(feature_dim, embed_dim)
            self.proxies = embedding(num_classes, embed_dim)
        else:
            raise ValueError(f"unknown conditioning head {kind!r}")

    def forward(self, features: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """{'logit': [N]} plus 'class_logits' [N, classes] (acgan) or 'embedding', 'proxy' [N, dim] (contragan)."""
        logit = self.adversarial(features).squeeze(1)
        if self.kind == "acgan":
            return {"logit": logit, "class_logits": self.classifier(features)}
        if self.kind == "projgan":
            return {"logit": logit + (self.class_embedding(labels) * features).sum(1)}
        return {"logit": logit, "embedding": self.projection(features), "proxy": self.proxies(labels)}


class ConditionalDiscriminator(nn.Module):
    def __init__(self, backbone: Backbone, head: HeadKind, size: int, channels: int, num_classes: int,
                 width: int, embed_dim: int):
        super().__init__()
        self.body = DiscriminatorBody(backbone, size, channels, width)
        self.head = ConditionalHead(head, self.body.feature_dim, num_classes, embed_dim)

    def forward(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        return self.head(self.body(images), labels)


def check_size(backbone: str, size: int) -> None:
    if size not in SIZES[backbone]:
        raise ValueError(f"the {backbone} backbone is built for {' or '.join(map(str, SIZES[backbone]))} px, "
                         f"not {size}")
