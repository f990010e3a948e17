"""Patch sampling + projection head of PatchNCE (CUT's netF)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class PatchSampleMLP(nn.Module):
    """For each feature layer: pick patch positions, project each patch with a 2-layer MLP, L2-normalise.

    The MLPs (Linear C->dim, ReLU, Linear dim->dim) are built up front from the known channel counts.
    Queries and keys must be sampled at the same positions: pass the ids returned for one to the other.
    """

    def __init__(self, in_channels: Sequence[int], dim: int = 256):
        super().__init__()
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(c, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim)) for c in in_channels
        )

    def forward(self, features: Sequence[Tensor], num_patches: int,
                patch_ids: Sequence[Tensor] | None = None) -> tuple[list[Tensor], list[Tensor]]:
        """Features [B, C, H, W] per layer -> samples [B * P, dim] per layer, and the position ids used."""
        samples, ids_used = [], []
        for layer, (feature, mlp) in enumerate(zip(features, self.mlps, strict=True)):
            batch, channels, height, width = feature.shape
            flat = feature.permute(0, 2, 3, 1).reshape(batch, height * width, channels)
            if patch_ids is not None:
                ids = patch_ids[layer]
            else:
                ids = torch.randperm(height * width)[:num_patches].to(feature.device)
            picked = flat[:, ids, :].reshape(-1, channels)
            samples.append(F.normalize(mlp(picked), dim=1))
            ids_used.append(ids)
        return samples, ids_used
