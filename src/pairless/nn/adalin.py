"""Normalisations of U-GAT-IT that learn how much instance and how much layer normalisation to use.

Both mix the two normalised maps with a learned ratio ρ per channel: ρ·IN(x) + (1 − ρ)·LN(x), where IN
uses each channel's spatial statistics and LN the statistics over all channels and positions of a sample.
AdaLIN scales and shifts the mix with γ, β computed from the input image (the decoder's residual blocks);
ILN learns them as ordinary per-channel parameters (the up-sampling layers). ρ must stay in [0, 1]: call
`clip_mixing_ratios` after each optimiser step.

For tiled translation (pairless.tiling) both also normalise with given per-channel moments of the whole
image (`statistics=(mean, var)`): layer norm's moments follow from them.

The variances are the population ones, as torch's instance and layer norm use (so ρ = 1 is exactly
`F.instance_norm` and ρ = 0 exactly `F.layer_norm`); the PyTorch reference code takes an unbiased variance
of the variance instead, which is not a variance of the map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def instance_layer_mix(x: Tensor, rho: Tensor, eps: float = 1e-5) -> Tensor:
    """ρ·IN(x) + (1 − ρ)·LN(x) for x [N, C, H, W] and ρ broadcastable to [1, C, 1, 1]; no affine part."""
    instance = F.group_norm(x, x.shape[1], eps=eps)  # = F.instance_norm, one op (see resnet_generator.InstanceNorm)
    return rho * instance + (1 - rho) * F.layer_norm(x, x.shape[1:], eps=eps)


def instance_layer_mix_from_moments(x: Tensor, mean: Tensor, var: Tensor, rho: Tensor, eps: float = 1e-5) -> Tensor:
    """`instance_layer_mix` with the per-channel spatial moments `mean`, `var` [N, C, 1, 1] given (those of a
    larger image x is a tile of); layer norm uses the moments over all channels, which follow from them."""
    channel_mean = mean.double()  # E[x²] − E[x]² cancels badly in float32 when the means are large
    layer_mean = channel_mean.mean(1, keepdim=True)
    layer_var = (var.double() + channel_mean.square()).mean(1, keepdim=True) - layer_mean.square()
    instance = (x - mean) / torch.sqrt(var + eps)
    layer = (x - layer_mean.to(x.dtype)) / torch.sqrt(layer_var.clamp_min(0) + eps).to(x.dtype)
    return rho * instance + (1 - rho) * layer


class _MixedNorm(nn.Module):
    tile_statistics = "moments"

    def __init__(self, channels: int, rho_init: float, eps: float):
        super().__init__()
        self.eps = eps
        self.rho = nn.Parameter(torch.full((1, channels, 1, 1), rho_init))

    def clip_rho_(self) -> None:
        with torch.no_grad():
            self.rho.clamp_(0.0, 1.0)

    def mix(self, x: Tensor, statistics: tuple[Tensor, Tensor] | None) -> Tensor:
        if statistics is None:
            return instance_layer_mix(x, self.rho, self.eps)
        return instance_layer_mix_from_moments(x, *statistics, self.rho, self.eps)


class AdaLIN(_MixedNorm):
    """Adaptive layer-instance normalisation: γ·(ρ·IN(x) + (1 − ρ)·LN(x)) + β with γ, β [N, C] given."""

    def __init__(self, channels: int, rho_init: float = 0.9, eps: float = 1e-5):
        super().__init__(channels, rho_init, eps)

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor,
                statistics: tuple[Tensor, Tensor] | None = None) -> Tensor:
        return self.mix(x, statistics) * gamma[:, :, None, None] + beta[:, :, None, None]


class ILN(_MixedNorm):
    """Layer-instance normalisation with learned per-channel ρ (init 0: pure LN), γ (1) and β (0)."""

    def __init__(self, channels: int, rho_init: float = 0.0, eps: float = 1e-5):
        super().__init__(channels, rho_init, eps)
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor, statistics: tuple[Tensor, Tensor] | None = None) -> Tensor:
        return self.mix(x, statistics) * self.gamma + self.beta


def clip_mixing_ratios(module: nn.Module) -> None:
    """Clamp the ρ of every AdaLIN / ILN inside `module` to [0, 1]."""
    for m in module.modules():
        if isinstance(m, _MixedNorm):
            m.clip_rho_()
