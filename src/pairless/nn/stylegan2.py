"""StyleGAN2-style generator and discriminator for single-image translation (SinCUT).

The CUT reference builds SinCUT's networks from StyleGAN2 layers (rosinality's port): equalised learning
rate (weights drawn from N(0, 1) and multiplied by 1/sqrt(fan_in) at run time, so these networks keep
their own initialisation), leaky ReLU scaled by sqrt(2), blurred [1, 3, 3, 1] resampling, and residual
blocks that divide the sum of residual and skip by sqrt(2). Translation has no style vectors, so the
decoder's "styled" upsampling convolution is a demodulated convolution (each output channel's weights
normalised to unit length) followed by noise injection.

Widths: the reference reads them from a per-resolution table scaled by ngf / ndf, so they depend on the
crop size. At its 64 px crop the generator has 8·ngf channels at the input resolution and the
discriminator 4·ndf, doubling at every downsampling (capped at 512 and 384). These networks use those
widths whatever the crop, so their shape does not depend on the training size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pairless.errors import PairlessError
from pairless.nn.antialias import binomial_kernel
from pairless.nn.taps import TappedGenerator

SQRT2 = math.sqrt(2)
BLUR_TAPS = [1, 3, 3, 1]
D_FINAL_SIZE = 4
"""The discriminator's last feature map is 4x4 (flattened into its linear head), as in the reference."""


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate: N(0, 1) weights scaled by 1/sqrt(fan_in) when used."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.scale = 1 / math.sqrt(c_in * kernel * kernel)
        self.stride, self.padding = stride, padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, self.stride, self.padding)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate; `activate` adds the scaled leaky ReLU after the bias."""

    def __init__(self, in_dim: int, out_dim: int, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.scale = 1 / math.sqrt(in_dim)
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        out = F.linear(x, self.weight * self.scale, self.bias)
        return F.leaky_relu(out, 0.2) * SQRT2 if self.activate else out


class BiasedLeakyReLU(nn.Module):
    """Per-channel bias, leaky ReLU (slope 0.2), times sqrt(2) to keep the activations' scale."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * SQRT2


class Blur(nn.Module):
    """Zero-pad (before, after) on both axes, then filter each channel with the normalised [1, 3, 3, 1]
    outer-product kernel times `gain` (4 after a 2x upsampling, to keep the brightness)."""

    kernel: Tensor

    def __init__(self, channels: int, pad: tuple[int, int], gain: float = 1.0):
        super().__init__()
        self.channels, self.pad = channels, pad
        kernel = binomial_kernel(BLUR_TAPS) * gain
        self.register_buffer("kernel", kernel.expand(channels, 1, 4, 4).clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        before, after = self.pad
        x = F.pad(x, (before, after, before, after))
        return F.conv2d(x, self.kernel.to(x.dtype), groups=self.channels)


def conv_layer(c_in: int, c_out: int, kernel: int, downsample: bool = False, activate: bool = True,
               bias: bool = True) -> nn.Sequential:
    """Equalised conv (blur + stride 2 when downsampling) followed by the biased scaled leaky ReLU;
    without activation the conv carries the bias itself (if `bias`)."""
    layers: list[nn.Module] = []
    if downsample:
        extra = (len(BLUR_TAPS) - 2) + (kernel - 1)
        layers.append(Blur(c_in, ((extra + 1) // 2, extra // 2)))
        stride, padding = 2, 0
    else:
        stride, padding = 1, kernel // 2
    layers.append(EqualConv2d(c_in, c_out, kernel, stride, padding, bias=bias and not activate))
    if activate:
        layers.append(BiasedLeakyReLU(c_out))
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """Two 3x3 conv layers (the second may downsample) plus a skip path (1x1, only where the shape
    changes); the sum is divided by sqrt(2)."""

    def __init__(self, c_in: int, c_out: int, downsample: bool):
        super().__init__()
        self.conv1 = conv_layer(c_in, c_in, 3)
        self.conv2 = conv_layer(c_in, c_out, 3, downsample=downsample)
        reshape = downsample or c_in != c_out
        self.skip = conv_layer(c_in, c_out, 1, downsample, activate=False, bias=False) if reshape else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


class NoiseInjection(nn.Module):
    """Adds per-pixel Gaussian noise of learned strength (starting at 0) while training.

    In eval mode no noise is added, so translation is deterministic (the reference draws noise at test
    time too; its mean contribution is zero).
    """

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        batch, _, height, width = x.shape
        noise = torch.randn(batch, 1, height, width, device=x.device, dtype=x.dtype)
        return x + self.weight * noise


class DemodulatedUpConv(nn.Module):
    """2x upsampling 3x3 convolution: weights demodulated (unit norm per output channel), transposed
    stride-2 convolution, then the [1, 3, 3, 1] blur; exactly doubles height and width."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.scale = 1 / math.sqrt(c_in * kernel * kernel)
        extra = (len(BLUR_TAPS) - 2) - (kernel - 1)
        self.blur = Blur(c_out, ((extra + 1) // 2 + 1, extra // 2 + 1), gain=4)

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight * self.scale
        weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        return self.blur(F.conv_transpose2d(x, weight.transpose(0, 1).to(x.dtype), stride=2))


def styled_up_block(c_in: int, c_out: int) -> nn.Sequential:
    """The decoder's upsampling step: demodulated 2x up-conv, noise, biased scaled leaky ReLU."""
    return nn.Sequential(DemodulatedUpConv(c_in, c_out), NoiseInjection(), BiasedLeakyReLU(c_out))


class StyleGAN2Generator(TappedGenerator):
    """Encoder: identity (layer 0 = the input image), 1x1 conv, `n_downsampling` downsampling ResBlocks,
    n_blocks/2 ResBlocks. Decoder: n_blocks/2 ResBlocks, one styled up-block per downsampling, 1x1 conv
    to the output channels with the scaled leaky ReLU (the reference's last layer; there is no tanh).

    With the SinCUT defaults (width 10, one downsampling, 6 blocks) `nce_layers` 0, 2, 4 are the input
    image, the downsampling block and the second encoder block.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 10, n_downsampling: int = 1,
                 n_blocks: int = 6):
        super().__init__()

        def channels(level: int) -> int:
            return min(512, 8 * width * 2 ** level)

        bottom = channels(n_downsampling)
        layers: list[nn.Module] = [nn.Identity(), conv_layer(in_channels, channels(0), 1)]
        layers += [ResBlock(channels(i), channels(i + 1), downsample=True) for i in range(n_downsampling)]
        layers += [ResBlock(bottom, bottom, downsample=False) for _ in range(n_blocks // 2)]
        self.encoder_end = len(layers)
        self.layer_channels = [in_channels, channels(0)] + [channels(i + 1) for i in range(n_downsampling)]
        self.layer_channels += [bottom] * (n_blocks // 2)
        layers += [ResBlock(bottom, bottom, downsample=False) for _ in range(n_blocks // 2)]
        layers += [styled_up_block(channels(i + 1), channels(i)) for i in reversed(range(n_downsampling))]
        layers.append(conv_layer(channels(0), out_channels, 1))
        self.layers = nn.Sequential(*layers)

    def feature_channels(self, feature_layers: Sequence[int]) -> list[int]:
        """Channel count of each requested encoder layer's output (for building the patch heads)."""
        return [self.layer_channels[i] for i in sorted(set(feature_layers))]


class StyleGAN2Discriminator(nn.Module):
    """1x1 conv, `n_blocks` downsampling ResBlocks, a 3x3 conv layer, then the flattened 4x4 map through
    a linear layer with activation and a linear layer to one logit per image.

    The crop must reach exactly 4x4 after the blocks (n_blocks = log2(crop) - 2: 4 for the reference's
    64 px crops), since the head is a linear layer over that map.
    """

    def __init__(self, in_channels: int = 3, width: int = 8, n_blocks: int = 4):
        super().__init__()

        def channels(level: int) -> int:
            return min(384, 4 * width * 2 ** level)

        top = channels(n_blocks)
        layers: list[nn.Module] = [conv_layer(in_channels, channels(0), 1)]
        layers += [ResBlock(channels(i), channels(i + 1), downsample=True) for i in range(n_blocks)]
        layers.append(conv_layer(top, top, 3))
        self.n_blocks = n_blocks
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), EqualLinear(top * D_FINAL_SIZE ** 2, top, activate=True),
                                  EqualLinear(top, 1))

    def forward(self, x: Tensor) -> Tensor:
        features = self.body(x)
        if features.shape[-2:] != (D_FINAL_SIZE, D_FINAL_SIZE):
            raise PairlessError(
                f"the StyleGAN2 discriminator needs crops of {D_FINAL_SIZE * 2 ** self.n_blocks} px with "
                f"--d-blocks {self.n_blocks}, got {x.shape[-2]}x{x.shape[-1]}; set --d-blocks to log2(--size) - 2"
            )
        return self.head(features)

    def features(self, x: Tensor) -> list[Tensor]:
        """The output of each conv layer and block: the intermediate features for feature matching and MMD."""
        features = []
        for layer in self.body:
            x = layer(x)
            features.append(x)
        return features
