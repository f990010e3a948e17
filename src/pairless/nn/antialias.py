"""Anti-aliased resampling (Zhang, "Making convolutional networks shift-invariant again", 2019).

CUT replaces strided convolutions by a stride-1 convolution followed by a fixed binomial blur with
stride 2, and transposed convolutions by a blurred 2x upsampling followed by a convolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pairless.nn.padding import reflection_pad


def binomial_kernel(taps: Sequence[float]) -> Tensor:
    row = torch.tensor(taps, dtype=torch.float32)
    kernel = torch.outer(row, row)
    return kernel / kernel.sum()


class BlurDownsample(nn.Module):
    """Reflect-pad by 1, blur with the 3x3 [1, 2, 1] binomial filter, keep every second pixel."""

    kernel: Tensor

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.register_buffer("kernel", binomial_kernel([1, 2, 1]).expand(channels, 1, 3, 3).clone(),
                             persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        x = reflection_pad(x, (1, 1, 1, 1))
        return F.conv2d(x, self.kernel.to(x.dtype), stride=2, groups=self.channels)


class BlurUpsample(nn.Module):
    """2x upsampling by a transposed convolution with the fixed 4x4 [1, 3, 3, 1] filter (bilinear-like).

    Edges are replicate-padded first so the border is not darkened; the result is exactly 2H x 2W.
    """

    kernel: Tensor

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        kernel = binomial_kernel([1, 3, 3, 1]) * 4
        self.register_buffer("kernel", kernel.expand(channels, 1, 4, 4).clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        # The transposed convolution's padding of 3 drops the 3 outer rows and columns of its full
        # 2H + 6 output: the exact 2H x 2W centre, with no crop to copy back through in backward.
        x = F.pad(x, (1, 1, 1, 1), mode="replicate")
        return F.conv_transpose2d(x, self.kernel.to(x.dtype), stride=2, padding=3, groups=self.channels)
