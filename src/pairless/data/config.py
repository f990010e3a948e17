"""Options of the unpaired image data pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pairless.errors import PairlessError
from pairless.fields import Checked, bounded

MIN_SIZE = 8
"""Smallest --size (pixels)."""
Preprocess = Literal["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none", "zoom_and_patch"]


@dataclass
class DataConfig(Checked):
    root: str = ""
    """Folder with trainA/ and trainB/ (and optionally testA/, testB/, testA_gt/)."""
    data_a: str = ""
    """Single-image training: the one image of domain A (instead of trainA/ of --data)."""
    data_b: str = ""
    """Single-image training: the one image of domain B (instead of trainB/ of --data)."""
    size: int = bounded(256, at_least=MIN_SIZE)
    """Training crop size in pixels."""
    load_size: int | None = bounded(None, at_least=MIN_SIZE, at_most=8192)
    """Resize target before cropping; None means size * 286 / 256 (286 for a 256 crop). With zoom_and_patch:
    the long side the single image is scaled to first; None keeps its own size."""
    preprocess: Preprocess = "resize_and_crop"
    """resize_and_crop, crop, scale_width, scale_width_and_crop, none (whole images), zoom_and_patch (single image)."""
    flip: bool = True
    """Random horizontal flips of the training images."""
    serial: bool = False
    """Pair the i-th A image with the i-th B image instead of a random B image (still unpaired data)."""
    channels_a: int = bounded(3, choices=(1, 3))
    """1 (gray) or 3 (colour) for domain A (--channels sets both)."""
    channels_b: int = bounded(3, choices=(1, 3))
    """1 (gray) or 3 (colour) for domain B."""
    skip_bad_images: bool = False
    """Warn about unreadable images and use the next one instead of stopping."""
    direction: Literal["AtoB", "BtoA"] = "AtoB"
    """BtoA swaps the two domains, so a one-way model learns B to A."""
    workers: int = bounded(2, at_least=0)
    """Data loader worker processes (0 loads in the training process)."""
    cache_mb: int = bounded(2048, at_least=0)
    """Decoded training images are kept in memory (8-bit ones as uint8) up to this many MiB, filled before
    training so that the loader's worker processes share them; 0: decode every image each time it is used."""
    pin_memory: bool = True
    """On CUDA, batches are put in page-locked memory so that copying them to the GPU overlaps the step."""
    full_frame_decay: bool = False
    """While the learning rate decays, resize to --size instead of --load-size: with resize_and_crop the model
    then sees whole images at the test-time framing (flips only). The reference code of CUT, FastCUT,
    DCLGAN and SimDCL does this in its fine-tuning epochs; their presets turn it on."""
    random_scale_max: float = bounded(3.0, at_least=1)
    """zoom_and_patch (single-image training): each axis is zoomed by a random factor in [1/this, 1]."""

    def cross_check(self) -> None:
        if self.load_size is not None and self.load_size < self.size and self.preprocess != "none":
            raise PairlessError(f"--load-size ({self.load_size}) must be at least --size ({self.size})")
        if bool(self.data_a) != bool(self.data_b):
            raise PairlessError("--data-a and --data-b go together: one image file for each domain")
        if self.data_a and not self.single_image:
            raise PairlessError(f"--data-a / --data-b name one image per domain, which needs --preprocess "
                                f"zoom_and_patch (single-image training, sincut's default), not {self.preprocess}")

    @property
    def single_image(self) -> bool:
        """One image per domain, sampled as many random zooms and patches (SinCUT's data mode)."""
        return self.preprocess == "zoom_and_patch"

    @property
    def resolved_load_size(self) -> int:
        return self.load_size if self.load_size is not None else round(self.size * 286 / 256)
