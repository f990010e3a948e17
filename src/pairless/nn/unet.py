"""U-Net generator of pix2pix, as DualGAN uses it: an encoder of stride-2 convolutions and a decoder of
transposed convolutions, each decoder level concatenated with the encoder level of the same size."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pairless.nn.resnet_generator import instance_norm

DROPOUT_LEVELS = 3
"""The innermost decoder levels that apply dropout 0.5 when it is on (pix2pix, DualGAN)."""


class UnetGenerator(nn.Module):
    """`depth` levels: C64-C128-C256-C512-C512-... (4x4, stride 2) down, the mirror image up, tanh out.

    The outermost and innermost convolutions have no norm, as in pix2pix; inputs must be a multiple of
    2**depth pixels in each dimension (depth 8 takes 256 px down to 1 px). Instance norm throughout, so
    batch size 1 trains and evaluates the same way.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, depth: int = 8,
                 dropout: bool = True):
        super().__init__()
        channels = [width * min(2 ** i, 8) for i in range(depth)]
        self.downs = nn.ModuleList()
        for level, c_out in enumerate(channels):
            c_in = in_channels if level == 0 else channels[level - 1]
            normed = 0 < level < depth - 1
            layers: list[nn.Module] = [] if level == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=not normed))
            if normed:
                layers.append(instance_norm(c_out))
            self.downs.append(nn.Sequential(*layers))
        self.ups = nn.ModuleList()
        for level in reversed(range(depth)):
            c_in = channels[level] * (1 if level == depth - 1 else 2)
            c_out = out_channels if level == 0 else channels[level - 1]
            layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=level == 0)]
            if level == 0:
                layers.append(nn.Tanh())
            else:
                layers.append(instance_norm(c_out))
                if dropout and depth - 1 - level < DROPOUT_LEVELS:
                    layers.append(nn.Dropout(0.5))
            self.ups.append(nn.Sequential(*layers))

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = skips.pop()
        for index, up in enumerate(self.ups):
            if index > 0:
                x = torch.cat([x, skips.pop()], 1)
            x = up(x)
        return x
