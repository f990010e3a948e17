"""Unpaired image folders (CycleGAN layout: trainA/, trainB/, testA/, testB/)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from pairless.data.config import DataConfig
from pairless.data.images import image_size, pixels_to_image, read_image, read_pixels, require_folder, warn_bad_image
from pairless.data.transforms import check_fits, output_shape, test_transform, train_transform
from pairless.errors import BadImageError, PairlessError

SKIP_HINT = " (pass --skip-bad-images to warn and skip unreadable files)"


def sample_generator(seed: int, index: int) -> torch.Generator:
    """A generator for one sample, well mixed from (seed, index)."""
    state = np.random.SeedSequence([seed, index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))


class DomainFolder:
    """The images of one domain folder, checked up front (readable header, large enough to preprocess)."""

    def __init__(self, folder: Path, channels: int, cfg: DataConfig, what: str):
        self.folder = folder
        self.channels = channels
        self.skip_bad = cfg.skip_bad_images
        self.paths: list[Path] = []
        self.shapes: dict[tuple[int, int], Path] = {}
        """(height, width) of the training samples -> the first image that gives that shape."""
        for path in require_folder(folder, what, "--data"):
            try:
                width, height = image_size(path)
                problem = check_fits(width, height, cfg)
                if problem:
                    raise PairlessError(f"image {path} {problem}")
            except BadImageError as exc:
                self._skip_or_raise(exc)
                continue
            self.paths.append(path)
            self.shapes.setdefault(output_shape(width, height, cfg), path)
        if not self.paths:
            raise PairlessError(f"{what} folder {folder} holds no readable images")
        self.cache: dict[int, Tensor] = {}
        """Decoded pixels by position in `paths` (see `preload`)."""

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> tuple[Tensor, Path]:
        """Image `index` (from the cache or decoded); with skip_bad_images, an unreadable one is replaced by
        the next."""
        for attempt in range(len(self.paths)):
            position = (index + attempt) % len(self.paths)
            path = self.paths[position]
            try:
                pixels = self.cache[position] if position in self.cache else read_pixels(path)
                return pixels_to_image(pixels, self.channels), path
            except BadImageError as exc:
                self._skip_or_raise(exc)
        raise PairlessError(f"no image in {self.folder} could be read")

    def preload(self, budget: int) -> int:
        """Decode images into the cache, in order, while they fit in `budget` bytes; returns the bytes used.
        An unreadable image stays out of the cache and is reported when it is used, as without one."""
        used = 0
        for position, path in enumerate(self.paths):
            try:
                pixels = read_pixels(path)
            except BadImageError:
                continue
            if used + pixels.nbytes > budget:
                break
            self.cache[position] = pixels
            used += pixels.nbytes
        return used

    def _skip_or_raise(self, exc: BadImageError) -> None:
        if not self.skip_bad:
            raise BadImageError(str(exc) + SKIP_HINT) from None
        warn_bad_image(str(exc))


class UnpairedImageFolder(Dataset):
    """Training samples {A, B, A_path, B_path} addressed by a global sample index 0, 1, 2, ...

    An epoch is max(|A|, |B|) samples. Within an epoch A images come in a seeded random order (or file
    order with `serial`) and each is given a random B image (or the B image at the same position with
    `serial`); crops and flips are drawn from a generator seeded by the sample index. So sample i is the
    same whatever the number of workers, and a resumed run continues the exact sequence.
    """

    def __init__(self, cfg: DataConfig, seed: int = 0, split: str = "train"):
        root = Path(cfg.root)
        if not root.is_dir():
            raise PairlessError(f"data folder not found: {root} (check --data)")
        src, dst = ("A", "B") if cfg.direction == "AtoB" else ("B", "A")
        channels = {"A": cfg.channels_a, "B": cfg.channels_b}
        self.cfg = cfg
        self.seed = seed
        self.a = DomainFolder(root / f"{split}{src}", channels[src], cfg, f"{split}{src}")
        self.b = DomainFolder(root / f"{split}{dst}", channels[dst], cfg, f"{split}{dst}")
        self.epoch_length = max(len(self.a), len(self.b))
        self._order_cache: tuple[int, Tensor] | None = None
        self.full_frames_from: int | None = None
        """Samples from this index on are preprocessed with load size = size (see DataConfig.full_frame_decay)."""

    def __len__(self) -> int:
        return self.epoch_length

    def preload(self, budget_mb: int) -> int:
        """Keep decoded training images in memory, up to `budget_mb` MiB for both domains (A first); returns
        the bytes used. Filled in the training process before the loader starts, whose forked workers then
        share the memory instead of decoding each image again at every use."""
        budget = budget_mb * 2**20
        used = self.a.preload(budget)
        return used + self.b.preload(budget - used)

    @property
    def sample_shapes(self) -> dict[tuple[int, int], Path]:
        """(height, width) of the training samples of both domains -> an image that gives that shape."""
        return self.b.shapes | self.a.shapes

    @property
    def fixed_shape(self) -> bool:
        """Whether every sample has the same height and width (needed for batches larger than 1)."""
        return len(self.sample_shapes) == 1

    def __getitem__(self, index: int) -> dict:
        epoch, position = divmod(index, self.epoch_length)
        slot = position if self.cfg.serial else int(self._epoch_order(epoch)[position])
        generator = sample_generator(self.seed, index)
        b_index = slot if self.cfg.serial else int(torch.randint(len(self.b), (), generator=generator))
        image_a, path_a = self.a.load(slot % len(self.a))
        image_b, path_b = self.b.load(b_index % len(self.b))
        full_frame = self.full_frames_from is not None and index >= self.full_frames_from
        cfg = replace(self.cfg, load_size=self.cfg.size) if full_frame else self.cfg
        return {"A": train_transform(image_a, cfg, generator),
                "B": train_transform(image_b, cfg, generator),
                "A_path": str(path_a), "B_path": str(path_b)}

    def _epoch_order(self, epoch: int) -> Tensor:
        if self._order_cache is None or self._order_cache[0] != epoch:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            self._order_cache = (epoch, torch.randperm(self.epoch_length, generator=generator))
        return self._order_cache[1]


def load_preview_batch(cfg: DataConfig, count: int) -> dict[str, Tensor]:
    """A fixed batch for sample grids: the first `count` readable test images of each domain (train
    images if there is no test folder), resized to the training size."""
    root = Path(cfg.root)
    src, dst = ("A", "B") if cfg.direction == "AtoB" else ("B", "A")
    channels = {"A": cfg.channels_a, "B": cfg.channels_b}
    batch = {}
    for key, domain in (("A", src), ("B", dst)):
        folder = root / f"test{domain}"
        if not folder.is_dir():
            folder = root / f"train{domain}"
        images = []
        for path in require_folder(folder, folder.name, "--data"):
            try:
                images.append(test_transform(read_image(path, channels[domain]), cfg.size))
            except BadImageError as exc:
                warn_bad_image(str(exc))
            if len(images) == count:
                break
        if not images:
            raise PairlessError(f"no readable image in {folder} for the sample grid")
        batch[key] = torch.stack(images)
    n = min(len(batch["A"]), len(batch["B"]))
    return {key: value[:n] for key, value in batch.items()}
