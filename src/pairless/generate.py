"""Sampling a trained class-conditional model: images of one class or of every class, and class x samples grids.

Images are written as class folders (`OUT/<class>/<index>.png`, class names zero-padded so that they sort
numerically), which data/labelled.py reads back, e.g. for evaluation.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from pairless.checkpoint import load_model
from pairless.data.images import save_image
from pairless.devices import resolve_device
from pairless.errors import PairlessError
from pairless.train.monitor import sample_grid


def load_generator(checkpoint: str | Path, device: str = "auto"):
    """A trained class-conditional model (eval mode) and its step; a clear error for translation models."""
    model, cfg, step = load_model(checkpoint, resolve_device(device))
    if model.data_kind != "labelled":
        raise PairlessError(f"{checkpoint} holds a {cfg.method} model, which translates images; "
                            f"`pairless generate` needs a class-conditional one (acgan, projgan, contragan)")
    return model, step


def class_folder_name(label: int, num_classes: int) -> str:
    return f"{label:0{len(str(num_classes - 1))}d}"


@torch.no_grad()
def generate_class(model, label: int, count: int, seed: int = 0, batch_size: int = 256) -> Tensor:
    """`count` images [count, C, H, W] in [0, 1] of class `label`; the same seed gives the same images."""
    if not 0 <= label < model.num_classes:
        raise PairlessError(f"--class {label} is out of range: the model has classes 0 to {model.num_classes - 1}")
    if count < 1:
        raise PairlessError(f"--count must be at least 1, got {count}")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed * 1_000_003 + label)
    noise = torch.randn(count, model.config.z_dim, generator=generator)
    chunks = []
    for z in noise.split(batch_size):
        labels = torch.full((len(z),), label, dtype=torch.long, device=device)
        chunks.append(model.sampler(z.to(device), labels).float().cpu())
    return (torch.cat(chunks).clamp(-1, 1) + 1) / 2


def write_class_images(model, out: str | Path, labels: list[int], count: int, seed: int = 0) -> list[Path]:
    """Write `count` images of each class in `labels` into OUT/<class>/00000.png, ..."""
    out = Path(out)
    written = []
    for label in labels:
        folder = out / class_folder_name(label, model.num_classes)
        for i, image in enumerate(generate_class(model, label, count, seed)):
            path = folder / f"{i:05d}.png"
            save_image(image, path)
            written.append(path)
    return written


@torch.no_grad()
def class_grid(model, labels: list[int], per_class: int, seed: int = 0) -> Tensor:
    """A grid image [3, H, W] in [0, 1]: one row per class, `per_class` samples in the columns; column j
    uses the same noise in every row, so rows differ by class only."""
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(per_class, model.config.z_dim, generator=generator).to(device)
    label_tensor = torch.tensor(labels, device=device)
    columns = {f"sample_{j}": model.sampler(noise[j].expand(len(labels), -1), label_tensor)
               for j in range(per_class)}
    return sample_grid([columns])
