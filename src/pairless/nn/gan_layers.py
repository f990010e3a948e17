"""Layers of the class-conditional GAN backbones (StudioGAN's building blocks): orthogonally initialised
convolutions, linear maps and embeddings with optional spectral norm, SNGAN's residual up-sampling block and
SAGAN's self-attention."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


def orthogonal_layer(module: nn.Module, sn: bool) -> nn.Module:
    """Orthogonal weights and zero biases, then spectral norm if asked (init must come before it)."""
    nn.init.orthogonal_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return spectral_norm(module) if sn else module


def conv(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0, sn: bool = True,
         bias: bool = True) -> nn.Module:
    return orthogonal_layer(nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=bias), sn)


def linear(n_in: int, n_out: int, sn: bool = True, bias: bool = True) -> nn.Module:
    return orthogonal_layer(nn.Linear(n_in, n_out, bias=bias), sn)


def embedding(num_classes: int, dim: int, sn: bool = True) -> nn.Module:
    return orthogonal_layer(nn.Embedding(num_classes, dim), sn)


class ResidualUpBlock(nn.Module):
    """SNGAN generator block: norm-ReLU-up-conv3-norm-ReLU-conv3, shortcut up-conv1. `norm(channels)` makes
    the conditional norms, which read the block's condition (class labels, or BigGAN's [embedding, z chunk])."""

    def __init__(self, c_in: int, c_out: int, norm: Callable[[int], nn.Module], sn: bool):
        super().__init__()
        self.norm1 = norm(c_in)
        self.conv1 = conv(c_in, c_out, 3, padding=1, sn=sn)
        self.norm2 = norm(c_out)
        self.conv2 = conv(c_out, c_out, 3, padding=1, sn=sn)
        self.shortcut = conv(c_in, c_out, 1, sn=sn)

    def forward(self, x: Tensor, condition: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.norm1(x, condition)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h), condition)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al.), as StudioGAN's backbones place it: every position attends to a
    2x max-pooled grid of the map through 1x1 projections to C/8 (query, key) and C/2 (value) channels; the
    result, projected back to C, is added to the input scaled by a learned gate that starts at 0."""

    def __init__(self, channels: int, sn: bool):
        super().__init__()
        self.query = conv(channels, channels // 8, 1, sn=sn, bias=False)
        self.key = conv(channels, channels // 8, 1, sn=sn, bias=False)
        self.value = conv(channels, channels // 2, 1, sn=sn, bias=False)
        self.out = conv(channels // 2, channels, 1, sn=sn, bias=False)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        query = self.query(x).flatten(2)
        key = F.max_pool2d(self.key(x), 2).flatten(2)
        value = F.max_pool2d(self.value(x), 2).flatten(2)
        attention = torch.softmax(query.transpose(1, 2) @ key, dim=-1)
        attended = (value @ attention.transpose(1, 2)).view(n, -1, h, w)
        return x + self.gate * self.out(attended)
