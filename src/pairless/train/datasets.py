"""Which data a method trains on, chosen by its model class's `data_kind`: unpaired domain folders
(translation, the default) or labelled images (class-conditional generation, data/labelled.py).

The trainer asks this module for the data set, for the config settings that follow from the data (number
of classes, channels of IDX sets), whether the samples fit the model, and for the fixed batch its sample
grids and diagnostics use.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset

from pairless.checkpoint import build_model
from pairless.config import RunConfig
from pairless.data.config import MIN_SIZE
from pairless.data.labelled import LabelledImages
from pairless.data.single_image import SingleImagePair, single_image_preview
from pairless.data.unpaired import UnpairedImageFolder, load_preview_batch
from pairless.errors import PairlessError
from pairless.models.base import Method, TranslationModel
from pairless.models.conditional import ConditionalGANConfig
from pairless.models.registry import get_method

GRID_CLASSES = 10
"""Classes shown in the sample grids of class-conditional runs (one row each)."""
PROBE_IMAGES = 64
"""Training and held-out images on which the discriminator diagnostics are measured."""


def data_kind(method: str) -> str:
    return get_method(method).model_class.data_kind


def class_conditional(cfg: RunConfig) -> ConditionalGANConfig:
    """The model settings of a method that trains on labelled images."""
    if not isinstance(cfg.model, ConditionalGANConfig):
        raise TypeError(f"{cfg.method} does not train on labelled images")
    return cfg.model


TrainingSet = LabelledImages | SingleImagePair | UnpairedImageFolder


@dataclass(frozen=True)
class TrainingData:
    """What a run trains on: the data set and the run's settings fitted to it (classes, image size and
    channels of labelled data)."""

    dataset: TrainingSet
    config: RunConfig

    def preview(self, count: int) -> dict[str, Tensor]:
        """The fixed batch for sample grids (and, for labelled data, the diagnostics' probe images)."""
        if isinstance(self.dataset, LabelledImages):
            return self.dataset.fixed_batch(GRID_CLASSES, PROBE_IMAGES)
        if self.config.data.single_image:
            return single_image_preview(self.config.data)
        return load_preview_batch(self.config.data, count)


def open_training_data(cfg: RunConfig) -> TrainingData:
    """The one place that decides which data a run opens: labelled images (the method's `data_kind`), one
    image per domain (--preprocess zoom_and_patch), or the two domain folders."""
    if data_kind(cfg.method) == "labelled":
        dataset: TrainingSet = LabelledImages(cfg.data, seed=cfg.train.seed, holdout=class_conditional(cfg).holdout)
    elif cfg.data.single_image:
        dataset = SingleImagePair(cfg.data, seed=cfg.train.seed, batch_size=cfg.train.batch_size)
    else:
        dataset = UnpairedImageFolder(cfg.data, seed=cfg.train.seed)
        dataset.preload(cfg.data.cache_mb)
    return TrainingData(dataset, fit_config_to_data(cfg, dataset))


def fit_config_to_data(cfg: RunConfig, dataset: Dataset) -> RunConfig:
    """Fill the model settings that come from a labelled data set (classes, image size, IDX channels)."""
    if not isinstance(dataset, LabelledImages):
        return cfg
    given = class_conditional(cfg).num_classes
    if given is not None and given < dataset.num_classes:
        raise PairlessError(f"--num-classes {given} is fewer than the {dataset.num_classes} classes of "
                            f"{dataset.source.description}")
    return cfg.override({"model.num_classes": given or dataset.num_classes, "model.image_size": cfg.data.size,
                         "data.channels_a": dataset.channels})


def check_sample_shapes(cfg: RunConfig, dataset: Dataset, model: Method) -> None:
    """Refuse up front what the networks cannot take: a --size (sample grids, crops) or image sides that are
    not multiples of the model's size multiple (its generator halves the image that many times over), and,
    with a preprocessing that keeps each image's size, images of different sizes, because the methods pass
    A and B images through one network together."""
    if model.data_kind == "labelled":  # class-conditional generators have their own fixed sizes
        return
    multiple = model.size_multiple
    if cfg.data.size % multiple:
        lower, upper = cfg.data.size // multiple * multiple, -(-cfg.data.size // multiple) * multiple
        nearest = f"{lower} or {upper}" if lower >= MIN_SIZE else str(upper)
        raise PairlessError(f"--size {cfg.data.size} is not a multiple of {multiple}, which {cfg.method} needs as "
                            f"configured; use --size {nearest}")
    if isinstance(model, TranslationModel):
        check_crop_size(cfg, model.size_multiple)
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


LARGEST_CROP = 8192


def check_crop_size(cfg: RunConfig, multiple: int) -> None:
    """Refuse a crop too small for the networks (a discriminator that halves it to nothing, a norm over one
    value), naming the smallest that works. Found by running the networks on shape-only (meta) tensors of
    the batch size, so it costs no memory or compute whatever the sizes."""
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        probe = build_model(cfg)
    assert isinstance(probe, TranslationModel)
    batch = cfg.train.batch_size
    if _trains_at(probe, cfg.data.size, batch):
        return
    smallest = smallest_crop(probe, multiple, batch)
    if smallest is None:
        raise PairlessError(f"{cfg.method} as configured trains at no crop size up to {LARGEST_CROP} px; lower "
                            f"--d-layers (or the other depth options)")
    depth = f", fewer --d-layers ({cfg.model.d_layers})" if hasattr(cfg.model, "d_layers") else ""
    raise PairlessError(f"--size {cfg.data.size} is too small for {cfg.method} as configured: its networks need "
                        f"crops of at least {smallest} px (at --batch-size {batch}); use --size {smallest} or "
                        f"more{depth}")


def smallest_crop(model: TranslationModel, multiple: int, batch: int) -> int | None:
    """The smallest multiple of `multiple` (of at least MIN_SIZE px) the networks train at: doubling sizes
    until one works, then each multiple after the last that did not."""
    first = multiple * -(-MIN_SIZE // multiple)
    failed, size = first - multiple, first
    while not _trains_at(model, size, batch):
        if size >= LARGEST_CROP:
            return None
        failed, size = size, min(2 * size, LARGEST_CROP)
    return next(s for s in range(failed + multiple, size + 1, multiple) if _trains_at(model, s, batch))


def _trains_at(model: TranslationModel, size: int, batch: int) -> bool:
    """Whether each network that takes training images, and each direction's translation (which composes
    networks, e.g. DTN's g(f(x))), runs in training mode on a batch of such images."""
    model.train()
    try:
        with torch.no_grad():
            for name, channels in model.crop_networks().items():
                getattr(model, name)(torch.zeros(batch, channels, size, size, device="meta"))
            for direction in model.directions:
                model.translate(torch.zeros(batch, model.input_channels(direction), size, size, device="meta"),
                                direction)
    except (RuntimeError, ValueError, IndexError):
        return False
    return True
