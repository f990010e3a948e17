"""Layers of the class-conditional GAN backbones (StudioGAN's building blocks): orthogonally initialised
convolutions, linear maps and embeddings with optional spectral norm, and SAGAN's self-attention."""

from __future__ import annotations

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
