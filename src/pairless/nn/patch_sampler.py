"""Patch sampling + projection head of PatchNCE (CUT's netF)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class PatchGroup:
    """The projected samples of feature layers that sample the same number of positions, stacked."""

    layers: list[int]
    """Indices into the feature list."""
    samples: Tensor
    """[len(layers), B * P, dim], L2-normalised."""


class PatchSampleMLP(nn.Module):
    """For each feature layer: pick patch positions, project each patch with a 2-layer MLP, L2-normalise.

    The MLPs (Linear C->dim, ReLU, Linear dim->dim) are built up front from the known channel counts.
    Queries and keys must be sampled at the same positions: pass the ids returned for one to the other.
    Layers that sample as many positions run as one batched MLP (`project`): their patches and first-layer
    weights are zero-padded to the widest layer's channels, which adds exact zeros to each product.
    """

    def __init__(self, in_channels: Sequence[int], dim: int = 256):
        super().__init__()
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(c, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim)) for c in in_channels
        )

    def forward(self, features: Sequence[Tensor], num_patches: int,
                patch_ids: Sequence[Tensor] | None = None) -> tuple[list[Tensor], list[Tensor]]:
        """Features [B, C, H, W] per layer -> samples [B * P, dim] per layer, and the position ids used."""
        groups, ids = self.project(features, num_patches, patch_ids)
        return per_layer(groups), ids

    def project(self, features: Sequence[Tensor], num_patches: int, patch_ids: Sequence[Tensor] | None = None,
                parts: int = 1) -> tuple[list[PatchGroup], list[Tensor]]:
        """Like `forward`, grouped. With `parts`, the batch is that many equal parts, each sampled at its own
        positions (drawn part after part, as that many separate calls would draw them); ids are [parts, P]."""
        if patch_ids is None:
            patch_ids = draw_patch_ids(features, num_patches, parts)
        picked = [pick_patches(f, ids) for f, ids in zip(features, patch_ids, strict=True)]
        groups = []
        for layers in _layers_by_patch_count(picked):
            groups.append(PatchGroup(layers, self._project_layers(layers, [picked[i] for i in layers])))
        return groups, list(patch_ids)

    def linear(self, layer: int, position: int) -> nn.Linear:
        """The Linear at `position` (0 or 2) of layer `layer`'s MLP."""
        return cast(nn.Linear, cast(nn.Sequential, self.mlps[layer])[position])

    def _project_layers(self, layers: list[int], picked: list[Tensor]) -> Tensor:
        """Runs in the transposed layout, weight @ patches^T, so each weight's gradient comes out in the
        weight's own layout (no copy when it is accumulated)."""
        width = max(p.shape[1] for p in picked)
        first = [self.linear(i, 0) for i in layers]
        second = [self.linear(i, 2) for i in layers]
        x = torch.stack([_pad_channels(p, width) for p in picked]).transpose(1, 2)
        weight = torch.stack([_pad_channels(m.weight, width) for m in first])
        hidden = torch.baddbmm(torch.stack([m.bias for m in first]).unsqueeze(2), weight, x).relu_()
        out = torch.baddbmm(torch.stack([m.bias for m in second]).unsqueeze(2),
                            torch.stack([m.weight for m in second]), hidden)
        return F.normalize(out, dim=1).transpose(1, 2)


def draw_patch_ids(features: Sequence[Tensor], num_patches: int, parts: int = 1) -> list[Tensor]:
    """Random distinct positions per layer, [parts, min(num_patches, H * W)], drawn part by part."""
    drawn = [[torch.randperm(f.shape[-2] * f.shape[-1])[:num_patches] for f in features] for _ in range(parts)]
    return [(torch.stack(per_part) if parts > 1 else per_part[0][None]).to(f.device)
            for f, per_part in zip(features, zip(*drawn, strict=True), strict=True)]


def pick_patches(feature: Tensor, ids: Tensor) -> Tensor:
    """[B, C, H, W] and ids [parts, P] -> [B * P, C]: sample-major rows, each part of the batch at its ids."""
    batch, channels, height, width = feature.shape
    parts, count = ids.shape
    flat = feature.permute(0, 2, 3, 1).reshape(parts, batch // parts, height * width, channels)
    index = ids[:, None, :, None].expand(parts, batch // parts, count, channels)
    return flat.gather(2, index).reshape(-1, channels)


def per_layer(groups: Sequence[PatchGroup]) -> list[Tensor]:
    """The grouped samples as one [B * P, dim] tensor per layer, in layer order."""
    by_layer = {i: samples for g in groups for i, samples in zip(g.layers, g.samples.unbind(0), strict=True)}
    return [by_layer[i] for i in sorted(by_layer)]


def _layers_by_patch_count(picked: Sequence[Tensor]) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for index, patches in enumerate(picked):
        groups.setdefault(patches.shape[0], []).append(index)
    return list(groups.values())


def _pad_channels(x: Tensor, width: int) -> Tensor:
    return x if x.shape[-1] == width else F.pad(x, (0, width - x.shape[-1]))
