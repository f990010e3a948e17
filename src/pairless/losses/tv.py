"""Total variation (the DTN paper's form with B = 1): the mean over pixels of
sqrt((z[i, j+1] - z[i, j])^2 + (z[i+1, j] - z[i, j])^2), summed over channels."""

from __future__ import annotations

from torch import Tensor

EPS = 1e-8
"""Keeps the square root differentiable where the image is flat."""


def total_variation(images: Tensor) -> Tensor:
    images = images.float()
    right = images[..., :-1, 1:] - images[..., :-1, :-1]
    down = images[..., 1:, :-1] - images[..., :-1, :-1]
    return (right.pow(2) + down.pow(2) + EPS).sqrt().sum(1).mean()
