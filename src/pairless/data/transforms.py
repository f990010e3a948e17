"""Training and test preprocessing on float image tensors [C, H, W] in [0, 1]; outputs are in [-1, 1].

Random choices come from an explicit `torch.Generator`, so a sample's augmentation is a function of its
index and the run's seed (which makes resuming exact and data-loader workers irrelevant).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from pairless.data.config import DataConfig
from pairless.errors import PairlessError

SIZE_MULTIPLE = 4


def resize(image: Tensor, height: int, width: int) -> Tensor:
    resized = TF.resize(image, [height, width], interpolation=InterpolationMode.BICUBIC, antialias=True)
    return resized.clamp(0, 1)


def random_crop(image: Tensor, size: int, generator: torch.Generator) -> Tensor:
    height, width = image.shape[-2:]
    top = int(torch.randint(height - size + 1, (), generator=generator))
    left = int(torch.randint(width - size + 1, (), generator=generator))
    return image[..., top:top + size, left:left + size]


def scaled_width_shape(width: int, height: int, target_width: int, min_height: int) -> tuple[int, int]:
    """(height, width) after scaling to `target_width` keeping the aspect ratio, height at least min_height."""
    return max(min_height, round(height * target_width / width)), target_width


def pad_to_multiple(image: Tensor, multiple: int = SIZE_MULTIPLE, minimum: int = 0) -> Tensor:
    """Pad [..., H, W] at the bottom/right to multiples of `multiple` that are at least `minimum` (reflect;
    replicate where the image is too small to reflect)."""
    height, width = image.shape[-2:]
    pad_h, pad_w = (-(-max(side, minimum) // multiple) * multiple - side for side in (height, width))
    if not pad_h and not pad_w:
        return image
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(image, (0, pad_w, 0, pad_h), mode=mode)


def round_to_multiple(value: int, multiple: int = SIZE_MULTIPLE) -> int:
    return max(multiple, round(value / multiple) * multiple)


def train_transform(image: Tensor, cfg: DataConfig, generator: torch.Generator) -> Tensor:
    """The configured preprocessing, random horizontal flip, then [0, 1] -> [-1, 1]."""
    mode, size, load = cfg.preprocess, cfg.size, cfg.resolved_load_size
    height, width = image.shape[-2:]
    if mode == "resize_and_crop":
        image = random_crop(resize(image, load, load), size, generator)
    elif mode == "crop":
        image = random_crop(image, size, generator)
    elif mode in ("scale_width", "scale_width_and_crop"):
        new_h, new_w = scaled_width_shape(width, height, load, size)
        if mode == "scale_width":
            new_h, new_w = round_to_multiple(new_h), round_to_multiple(new_w)
        image = resize(image, new_h, new_w)
        if mode == "scale_width_and_crop":
            image = random_crop(image, size, generator)
    elif mode == "none":
        image = pad_to_multiple(image)
    else:
        raise PairlessError(f"unknown --preprocess {mode!r}")
    if cfg.flip and bool(torch.rand((), generator=generator) < 0.5):
        image = image.flip(-1)
    return image * 2 - 1


def test_transform(image: Tensor, size: int) -> Tensor:
    """Evaluation-time preprocessing of the reference code: resize to size x size, no crop, no flip."""
    return resize(image, size, size) * 2 - 1


def check_fits(width: int, height: int, cfg: DataConfig) -> str | None:
    """Why an image of this size cannot be preprocessed as configured (None if it can)."""
    size = cfg.size
    if cfg.preprocess == "crop" and (width < size or height < size):
        return (f"is {width}x{height}, smaller than the {size} px crop; lower --size or use "
                f"--preprocess resize_and_crop")
    if cfg.preprocess == "scale_width_and_crop" and cfg.resolved_load_size < size:
        return f"cannot be cropped to {size} px after scaling to width {cfg.resolved_load_size}"
    if cfg.preprocess == "none" and (width < size or height < size):
        return (f"is {width}x{height}, smaller than --size {size}: --preprocess none trains on whole images, "
                f"which must be at least the size the networks are built for; lower --size or use "
                f"--preprocess resize_and_crop")
    return None


def output_shape(width: int, height: int, cfg: DataConfig) -> tuple[int, int]:
    """(height, width) of a training sample from an image of this size."""
    if cfg.preprocess in ("resize_and_crop", "crop", "scale_width_and_crop"):
        return cfg.size, cfg.size
    if cfg.preprocess == "scale_width":
        new_h, new_w = scaled_width_shape(width, height, cfg.resolved_load_size, cfg.size)
        return round_to_multiple(new_h), round_to_multiple(new_w)
    return height + (-height % SIZE_MULTIPLE), width + (-width % SIZE_MULTIPLE)
