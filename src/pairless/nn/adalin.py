"""Normalisations of U-GAT-IT that learn how much instance and how much layer normalisation to use.

Both mix the two normalised maps with a learned ratio ρ per channel: ρ·IN(x) + (1 − ρ)·LN(x), where IN
uses each channel's spatial statistics and LN the statistics over all channels and positions of a sample.
AdaLIN scales and shifts the mix with γ, β computed from the input image (the decoder's residual blocks);
ILN learns them as ordinary per-channel parameters (the up-sampling layers). ρ must stay in [0, 1]: call
`clip_mixing_ratios` after each optimiser step.

For tiled translation (pairless.tiling) both also normalise with given per-channel moments of the whole
image (`statistics`, a `ChannelMoments`): layer norm's moments follow from them.

The variances are the population ones by default, as torch's instance and layer norm use (so ρ = 1 is
exactly `F.instance_norm` and ρ = 0 exactly `F.layer_norm`) and as the TensorFlow reference computes them;
with `unbiased` they are the unbiased (n − 1) estimates that the PyTorch port (UGATIT-pytorch) takes with
`torch.var`, which its weights were trained with.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pairless.tiling import ChannelMoments


def instance_layer_mix(x: Tensor, rho: Tensor, eps: float = 1e-5, unbiased: bool = False) -> Tensor:
    """ρ·IN(x) + (1 − ρ)·LN(x) for x [N, C, H, W] and ρ broadcastable to [1, C, 1, 1]; no affine part.

    With `unbiased`, each norm divides by sqrt(n/(n − 1)·var + eps) for its n values: the same kernels with
    eps scaled by (n − 1)/n and the result by sqrt((n − 1)/n)."""
    channels, pixels = x.shape[1], x.shape[2] * x.shape[3]
    instance = _normalised(lambda e: F.group_norm(x, channels, eps=e), pixels, eps, unbiased)  # = instance norm
    layer = _normalised(lambda e: F.layer_norm(x, x.shape[1:], eps=e), channels * pixels, eps, unbiased)
    return rho * instance + (1 - rho) * layer


def _normalised(norm, count: int, eps: float, unbiased: bool) -> Tensor:
    if not unbiased:
        return norm(eps)
    shrink = (count - 1) / count
    return norm(eps * shrink) * math.sqrt(shrink)


def instance_layer_mix_from_moments(x: Tensor, moments: ChannelMoments, rho: Tensor, eps: float = 1e-5,
                                    unbiased: bool = False) -> Tensor:
    """`instance_layer_mix` with the per-channel spatial moments [N, C, 1, 1] given (those of a larger image x
    is a tile of); layer norm uses the moments over all channels, which follow from them."""
    mean, var, pixels = moments
    channel_mean = mean.double()  # E[x²] − E[x]² cancels badly in float32 when the means are large
    layer_mean = channel_mean.mean(1, keepdim=True)
    layer_var = (var.double() + channel_mean.square()).mean(1, keepdim=True) - layer_mean.square()
    if unbiased:
        var, layer_var = _unbiased(var, pixels), _unbiased(layer_var, pixels * x.shape[1])
    instance = (x - mean) / torch.sqrt(var + eps)
    layer = (x - layer_mean.to(x.dtype)) / torch.sqrt(layer_var.clamp_min(0) + eps).to(x.dtype)
    return rho * instance + (1 - rho) * layer


def _unbiased(population_var: Tensor, count: int) -> Tensor:
    return population_var * (count / max(count - 1, 1))


class _MixedNorm(nn.Module):
    tile_statistics = "moments"

    def __init__(self, channels: int, rho_init: float, eps: float, unbiased: bool):
        super().__init__()
        self.eps = eps
        self.unbiased = unbiased
        self.rho = nn.Parameter(torch.full((1, channels, 1, 1), rho_init))

    def clip_rho_(self) -> None:
        with torch.no_grad():
            self.rho.clamp_(0.0, 1.0)

    def mix(self, x: Tensor, statistics: ChannelMoments | None) -> Tensor:
        if statistics is None:
            return instance_layer_mix(x, self.rho, self.eps, self.unbiased)
        return instance_layer_mix_from_moments(x, statistics, self.rho, self.eps, self.unbiased)


class AdaLIN(_MixedNorm):
    """Adaptive layer-instance normalisation: γ·(ρ·IN(x) + (1 − ρ)·LN(x)) + β with γ, β [N, C] given."""

    def __init__(self, channels: int, rho_init: float = 0.9, eps: float = 1e-5, unbiased: bool = False):
        super().__init__(channels, rho_init, eps, unbiased)

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor, statistics: ChannelMoments | None = None) -> Tensor:
        return self.mix(x, statistics) * gamma[:, :, None, None] + beta[:, :, None, None]


class ILN(_MixedNorm):
    """Layer-instance normalisation with learned per-channel ρ (init 0: pure LN), γ (1) and β (0)."""

    def __init__(self, channels: int, rho_init: float = 0.0, eps: float = 1e-5, unbiased: bool = False):
        super().__init__(channels, rho_init, eps, unbiased)
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor, statistics: ChannelMoments | None = None) -> Tensor:
        return self.mix(x, statistics) * self.gamma + self.beta


def clip_mixing_ratios(module: nn.Module) -> None:
    """Clamp the ρ of every AdaLIN / ILN inside `module` to [0, 1]."""
    for m in module.modules():
        if isinstance(m, _MixedNorm):
            m.clip_rho_()
