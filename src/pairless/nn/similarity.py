"""SimDCL's light projection networks: a whole set of sampled patch features -> one 64-d vector."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SimilarityProjector(nn.Module):
    """Treats the sampled features of one image, [layers, patches, dim], as a layers-channel picture:
    3x3 stride-2 conv to `dim` (unpadded, as the reference's MappingF), ReLU, global average pool,
    Linear-ReLU-Linear, L2-normalise. Patches and feature dimensions must each number at least 3."""

    SMALLEST_SIDE = 3

    def __init__(self, n_layers: int, dim: int = 64):
        super().__init__()
        self.conv = nn.Conv2d(n_layers, dim, 3, stride=2)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))

    def forward(self, stacked: Tensor) -> Tensor:
        """[B, layers, patches, dim] -> [B, out_dim]."""
        x = F.relu(self.conv(stacked))
        return F.normalize(self.mlp(x.mean(dim=(2, 3))), dim=1)


def stack_patch_samples(samples: Sequence[Tensor], batch_size: int) -> Tensor:
    """Per-layer samples [B * P, D] (as the patch sampler returns them) -> [B, layers, P, D]."""
    return torch.stack([s.reshape(batch_size, -1, s.shape[-1]) for s in samples], dim=1)
