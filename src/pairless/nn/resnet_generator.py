"""ResNet generator of CycleGAN / CUT, as one flat layer list so encoder features are addressable by index."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from pairless.nn.antialias import BlurDownsample, BlurUpsample
from pairless.nn.padding import ReflectionPad
from pairless.nn.taps import TappedGenerator


class InstanceNorm(nn.InstanceNorm2d):
    """Instance norm without affine parameters or running statistics, run as a group norm of one channel
    per group: the same statistics and eps in one kernel whose output is not a view. (Torch's instance norm
    returns a view of a batch norm over the reshaped input, so an in-place activation after it makes
    backward copy the whole map back through the view: six extra ops per norm.)"""

    def __init__(self, channels: int):
        super().__init__(channels, affine=False, track_running_stats=False)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            return super().forward(x)
        return F.group_norm(x, self.num_features, eps=self.eps)


def instance_norm(channels: int) -> nn.Module:
    return InstanceNorm(channels)


class ResnetBlock(nn.Module):
    """x + (pad, conv3x3, IN, ReLU, pad, conv3x3, IN).

    The middle ReLU runs after its padding, in place (the same values: padding only copies them), and the
    pads save nothing, so backward keeps one map there (the padded activation, which the ReLU and the
    convolution both need) instead of three: the normalised map, the activation and its padded copy."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            ReflectionPad(1), nn.Conv2d(channels, channels, 3, bias=False), instance_norm(channels),
            ReflectionPad(1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, bias=False), instance_norm(channels),
        )

    recompute = False
    """Save only the block's input for backward and run the body again there (`--checkpoint-activations`)."""

    def forward(self, x: Tensor) -> Tensor:
        if self.recompute and torch.is_grad_enabled():
            return x + checkpoint(self.body, x, use_reentrant=False, preserve_rng_state=False)  # no random ops
        return x + self.body(x)


def checkpoint_residual_blocks(model: nn.Module, enabled: bool = True) -> int:
    """Make every residual block in `model` recompute its activations in backward; returns how many."""
    blocks = [m for m in model.modules() if isinstance(m, ResnetBlock)]
    for block in blocks:
        block.recompute = enabled
    return len(blocks)


def downsample_layers(c_in: int, c_out: int, antialias: bool) -> list[nn.Module]:
    if antialias:
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), instance_norm(c_out), nn.ReLU(True),
                BlurDownsample(c_out)]
    return [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), instance_norm(c_out), nn.ReLU(True)]


def upsample_layers(c_in: int, c_out: int, antialias: bool) -> list[nn.Module]:
    if antialias:
        return [BlurUpsample(c_in), nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), instance_norm(c_out),
                nn.ReLU(True)]
    return [nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1, bias=False),
            instance_norm(c_out), nn.ReLU(True)]


class ResnetGenerator(TappedGenerator):
    """c7s1-w, two downsamplings (w to 4w), n residual blocks, two upsamplings, c7s1-out, tanh.

    Layer indices follow the CUT reference for the anti-aliased layout, so `nce_layers` 0,4,8,12,16
    are the padded input, the first and second downsampling convolutions and residual blocks 1 and 5.
    Convolutions that feed an instance norm have no bias: the norm removes it anyway.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, n_blocks: int = 9,
                 antialias: bool = True, antialias_up: bool = True):
        super().__init__()
        layers: list[nn.Module] = [
            ReflectionPad(3), nn.Conv2d(in_channels, width, 7, bias=False), instance_norm(width),
            nn.ReLU(True),
        ]
        layers += downsample_layers(width, 2 * width, antialias)
        layers += downsample_layers(2 * width, 4 * width, antialias)
        self.encoder_end = len(layers) + n_blocks
        layers += [ResnetBlock(4 * width) for _ in range(n_blocks)]
        layers += upsample_layers(4 * width, 2 * width, antialias_up)
        layers += upsample_layers(2 * width, width, antialias_up)
        layers += [ReflectionPad(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.layers = nn.Sequential(*layers)

    def feature_channels(self, feature_layers: Sequence[int]) -> list[int]:
        """Channel count of each requested layer's output (for building the patch heads up front)."""
        channels, result = cast(int, self.layers[1].in_channels), {}
        for index, layer in enumerate(self.layers):
            channels = _output_channels(layer, channels)
            result[index] = channels
        return [result[i] for i in sorted(set(feature_layers))]


def _output_channels(layer: nn.Module, channels: int) -> int:
    for module in layer.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            channels = module.out_channels
    return channels
