"""Which data a method trains on, chosen by its model class's `data_kind`: unpaired domain folders
(translation, the default) or labelled images (class-conditional generation, data/labelled.py).

The trainer asks this module for the data set, for the config settings that follow from the data (number
of classes, channels of IDX sets) and for the fixed batch its sample grids and diagnostics use.
"""

from __future__ import annotations

from torch import Tensor
from torch.utils.data import Dataset

from pairless.config import RunConfig
from pairless.data.labelled import LabelledImages
from pairless.data.unpaired import load_preview_batch
from pairless.errors import PairlessError
from pairless.models.registry import get_method

GRID_CLASSES = 10
"""Classes shown in the sample grids of class-conditional runs (one row each)."""
PROBE_IMAGES = 64
"""Training and held-out images on which the discriminator diagnostics are measured."""


def data_kind(method: str) -> str:
    return getattr(get_method(method).model_class, "data_kind", "unpaired")


def open_labelled(cfg: RunConfig) -> LabelledImages:
    return LabelledImages(cfg.data, seed=cfg.train.seed, holdout=cfg.model.holdout)


def fit_config_to_data(cfg: RunConfig, dataset: Dataset) -> RunConfig:
    """Fill the model settings that come from a labelled data set (classes, image size, IDX channels)."""
    if not isinstance(dataset, LabelledImages):
        return cfg
    given = cfg.model.num_classes
    if given is not None and given < dataset.num_classes:
        raise PairlessError(f"--num-classes {given} is fewer than the {dataset.num_classes} classes of "
                            f"{dataset.source.description}")
    return cfg.override({"model.num_classes": given or dataset.num_classes, "model.image_size": cfg.data.size,
                         "data.channels_a": dataset.channels})


def preview_batch(cfg: RunConfig, dataset: Dataset, count: int) -> dict[str, Tensor]:
    """The fixed batch for sample grids (and, for labelled data, the diagnostics' probe images)."""
    if isinstance(dataset, LabelledImages):
        return dataset.fixed_batch(GRID_CLASSES, PROBE_IMAGES)
    return load_preview_batch(cfg.data, count)
