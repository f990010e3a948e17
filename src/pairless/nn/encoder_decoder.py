"""Plain convolutional encoders, decoders and discriminators of the DCGAN era (DiscoGAN, DTN).

Every block is a stride-2 convolution (or transposed convolution) + optional norm + activation, so an
image of H pixels becomes H / 2**n after n blocks; inputs must be multiples of that factor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from pairless.nn.resnet_generator import instance_norm

Norm = Literal["batch", "instance"]
Activation = Literal["relu", "leaky_relu", "tanh"]


def norm_layer(kind: Norm, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else instance_norm(channels)


def activation_layer(kind: Activation) -> nn.Module:
    makers: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2),
                                                  "tanh": nn.Tanh}
    return makers[kind]()


class ConvEncoder(nn.Module):
    """Blocks of conv (kernel 3 or 4, stride 2, padding 1) + norm + activation, one per entry of `widths`.

    The first block has no norm unless `first_norm`; `last_activation` replaces the activation of the
    last block (DTN's encoder ends in tanh).
    """

    def __init__(self, in_channels: int, widths: Sequence[int], kernel: int = 4, norm: Norm = "batch",
                 activation: Activation = "leaky_relu", first_norm: bool = False,
                 last_activation: Activation | None = None):
        super().__init__()
        self.blocks = nn.ModuleList()
        c_in = in_channels
        for index, c_out in enumerate(widths):
            normed = first_norm or index > 0
            last = index == len(widths) - 1
            layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride=2, padding=1, bias=not normed)]
            if normed:
                layers.append(norm_layer(norm, c_out))
            layers.append(activation_layer(last_activation if last and last_activation else activation))
            self.blocks.append(nn.Sequential(*layers))
            c_in = c_out
        self.out_channels = c_in

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return x

    def block_outputs(self, x: Tensor) -> list[Tensor]:
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return outputs


class ConvDecoder(nn.Module):
    """Transposed convolutions (4x4, stride 2) + norm + ReLU through `widths`, then one more to
    `out_channels` with tanh: len(widths) + 1 doublings of the spatial size."""

    def __init__(self, in_channels: int, widths: Sequence[int], out_channels: int, norm: Norm = "batch"):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for c_out in widths:
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False),
                       norm_layer(norm, c_out), nn.ReLU(True)]
            c_in = c_out
        layers += [nn.ConvTranspose2d(c_in, out_channels, 4, stride=2, padding=1), nn.Tanh()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class EncoderDecoderGenerator(nn.Module):
    """DiscoGAN's generator: conv C64-C128-C256-C512 (LeakyReLU, BN from the second) down to H/16, then
    transposed convs 256-128-64 (BN, ReLU) and a last one to the image with tanh. No skip connections."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, norm: Norm = "batch"):
        super().__init__()
        self.encoder = ConvEncoder(in_channels, [width, 2 * width, 4 * width, 8 * width], norm=norm)
        self.decoder = ConvDecoder(8 * width, [4 * width, 2 * width, width], out_channels, norm=norm)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


class ConvDiscriminator(nn.Module):
    """A `ConvEncoder` then a 4x4 valid convolution to `out_channels` logits per position (one position
    for a 64 px DiscoGAN or a 32 px DTN input). Feature maps smaller than the kernel are zero-padded, so
    smaller inputs work too; larger ones give a patch map."""

    HEAD_KERNEL = 4

    def __init__(self, in_channels: int, widths: Sequence[int], out_channels: int = 1, kernel: int = 4,
                 norm: Norm = "batch"):
        super().__init__()
        self.encoder = ConvEncoder(in_channels, widths, kernel=kernel, norm=norm)
        self.head = nn.Conv2d(widths[-1], out_channels, self.HEAD_KERNEL)

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.encoder(x))

    def features(self, x: Tensor) -> list[Tensor]:
        """Outputs of the normalised blocks (all but the first): the features DiscoGAN matches."""
        return self.encoder.block_outputs(x)[1:]

    def forward_with_features(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        outputs = self.encoder.block_outputs(x)
        return self.classify(outputs[-1]), outputs[1:]

    def classify(self, features: Tensor) -> Tensor:
        short_h = max(0, self.HEAD_KERNEL - features.shape[-2])
        short_w = max(0, self.HEAD_KERNEL - features.shape[-1])
        if short_h or short_w:
            features = F.pad(features, (short_w // 2, short_w - short_w // 2, short_h // 2, short_h - short_h // 2))
        return self.head(features)
