"""Sets of images held in memory as uint8 [N, 3, size, size], the form feature extractors take."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from pairless.data.images import list_images, read_image
from pairless.data.transforms import resize


def to_uint8(images: Tensor) -> Tensor:
    """[N, C, H, W] floats in [0, 1] -> [N, 3, H, W] uint8 (gray is repeated to three channels)."""
    images = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def load_image_set(paths: list[Path], size: int) -> Tensor:
    """Read and resize (bicubic, antialiased) to size x size, as the reference test pipeline does."""
    if not paths:
        return torch.empty(0, 3, size, size, dtype=torch.uint8)
    return to_uint8(torch.stack([resize(read_image(p, 3), size, size) for p in paths]))


def folder_paths(folder: Path, limit: int | None = None) -> list[Path]:
    paths = list_images(folder) if folder.is_dir() else []
    return paths[:limit] if limit else paths
