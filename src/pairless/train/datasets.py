"""Which data a method trains on, chosen by its model class's `data_kind`: unpaired domain folders
(translation, the default) or labelled images (class-conditional generation, data/labelled.py).

The trainer asks this module for the data set, for the config settings that follow from the data (number
of classes, channels of IDX sets), whether the samples fit the model, and for the fixed batch its sample
grids and diagnostics use.
"""

from __future__ import annotations

from torch import Tensor
from torch.utils.data import Dataset

from pairless.config import RunConfig
from pairless.data.config import MIN_SIZE
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


def check_sample_shapes(cfg: RunConfig, dataset: Dataset, model) -> None:
    """Refuse up front what the networks cannot take: a --size (sample grids, crops) or image sides that are
    not multiples of the model's size multiple (its generator halves the image that many times over), and,
    with a preprocessing that keeps each image's size, images of different sizes, because the methods pass
    A and B images through one network together."""
    multiple = getattr(model, "size_multiple", None)
    if multiple is None:  # class-conditional generators have their own fixed sizes
        return
    if cfg.data.size % multiple:
        lower, upper = cfg.data.size // multiple * multiple, -(-cfg.data.size // multiple) * multiple
        nearest = f"{lower} or {upper}" if lower >= MIN_SIZE else str(upper)
        raise PairlessError(f"--size {cfg.data.size} is not a multiple of {multiple}, which {cfg.method} needs as "
                            f"configured; use --size {nearest}")
    shapes = getattr(dataset, "sample_shapes", {})
    if len(shapes) > 1:
        (first, first_path), (other, other_path) = list(shapes.items())[:2]
        raise PairlessError(f"--preprocess {cfg.data.preprocess} keeps each image's size, and {cfg.method} needs "
                            f"one size for all: {first_path} gives {_shape(first)} but {other_path} gives "
                            f"{_shape(other)}; resize the images to one size or use --preprocess resize_and_crop")
    for (height, width), path in shapes.items():
        if height % multiple or width % multiple:
            raise PairlessError(f"image {path} gives {_shape((height, width))} training images, but {cfg.method} "
                                f"needs sides that are multiples of {multiple}; resize it or use "
                                f"--preprocess resize_and_crop")


def _shape(shape: tuple[int, int]) -> str:
    height, width = shape
    return f"{width}x{height}"
