"""`pairless reproduce ROW --smoke`: the row's whole path (its recipe and protocol, the data layout check,
the cost count, training with evaluations in the Inception features, best.safetensors, the table) for two
steps at 32 px on the CPU, on tiny generated data in the row's layout. The tests run it for every row, so a
change that breaks a row's options breaks a test."""

from __future__ import annotations

from pathlib import Path

import torch

from pairless.config import RunConfig
from pairless.data.images import save_image
from pairless.data.synthetic import make_synthetic_dataset
from pairless.reproduce.rows import Row

SIZE = 32
STEPS = 2
TINY_MODEL = {"width": 4, "n_blocks": 5, "num_patches": 8, "head_dim": 8, "sim_dim": 8, "d_layers_local": 4,
              "pool_size": 2, "shared_dim": 8, "embed_dim": 8}
"""Narrow networks (5 blocks: CUT's and DCLGAN's NCE layers reach into the fifth); each applies to the
methods whose config has the field."""
TRAIN_IMAGES, TEST_IMAGES = 4, 2
"""Per domain of a translation row (the fewest that FID, KID and diversity take)."""
CLASSES, TRAIN_PER_CLASS, TEST_PER_CLASS = 2, 2, 1


def smoke_overrides(cfg: RunConfig) -> dict[str, object]:
    """The row's settings shrunk to seconds on a CPU: tiny networks, 32 px, two steps, an evaluation after
    each, a quickly trained domain classifier."""
    model = {f"model.{name}": value for name, value in TINY_MODEL.items() if hasattr(cfg.model, name)}
    return {**model, "data.size": SIZE, "data.load_size": SIZE + SIZE // 8, "data.workers": 0,
            "train.steps": STEPS, "train.batch_size": min(cfg.train.batch_size, 2), "train.eval_every": 1,
            "train.eval_size": None, "train.eval_classifier_steps": 20, "train.log_every": 1,
            "train.sample_every": STEPS, "train.save_every": STEPS, "train.device": "cpu"}


def write_smoke_data(row: Row, folder: Path) -> Path:
    """Tiny data in the layout the row's data set has (made once; an existing folder is reused)."""
    if folder.is_dir():
        return folder
    if row.data.kind == "labelled":
        return write_class_folders(folder, CLASSES)
    return make_synthetic_dataset("hue", folder, count=TRAIN_IMAGES, test_count=TEST_IMAGES, size=SIZE)


def write_class_folders(folder: Path, classes: int) -> Path:
    """train/<class>/ and test/<class>/: each class a flat colour of its own with noise on top."""
    generator = torch.Generator().manual_seed(0)
    for split, count in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        for label in range(classes):
            colour = torch.rand(3, 1, 1, generator=generator)
            for index in range(count):
                image = (colour + 0.2 * torch.rand(3, SIZE, SIZE, generator=generator)).clamp(0, 1)
                save_image(image, folder / split / f"class{label:02d}" / f"{index}.png")
    return folder
