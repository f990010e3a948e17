"""Class-labelled images for class-conditional generation: class folders or IDX files (MNIST-like sets).

Two layouts are recognised under one `--data` folder:

- IDX files (`*-images-idx3-ubyte[.gz]` with the matching `*-labels-idx1-ubyte[.gz]`, as MNIST, Fashion-MNIST
  and KMNIST ship): gray images, so they have one channel. A folder with several pairs uses the `train` one.
- class folders (ImageFolder layout `root/<class>/**/*.png`): class k is the k-th folder name in sorted order;
  images are read with the configured channel count.

A stratified, seeded part of every class can be held out (never trained on) to measure how the
discriminator overfits. Samples are resized to size x size (no crop) and mapped to [-1, 1].
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from pairless.data.config import DataConfig
from pairless.data.images import image_size, list_images, read_image, warn_bad_image
from pairless.data.transforms import resize
from pairless.data.unpaired import SKIP_HINT, sample_generator
from pairless.errors import BadImageError, PairlessError

IDX_UBYTE = 0x08
SPLIT_SEED = 0
"""The held-out split depends on the data only, so runs with different seeds are probed on the same images."""


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) of unsigned bytes as an array of its declared shape."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise PairlessError(f"cannot read IDX file {path}: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise PairlessError(f"{path} is not an IDX file (bad magic number)")
    if data[2] != IDX_UBYTE:
        raise PairlessError(f"{path} holds IDX type 0x{data[2]:02x}; only unsigned bytes (0x08) are supported")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise PairlessError(f"IDX file {path} is truncated or padded: {len(data)} bytes, its header "
                            f"declares {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


class IdxImages:
    """An images IDX file and its labels IDX file, held in memory."""

    def __init__(self, images_path: Path, labels_path: Path):
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3:
            raise PairlessError(f"{images_path} should hold images [N, H, W], but has shape {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise PairlessError(f"{labels_path} holds {labels.shape} labels for the {len(images)} images of "
                                f"{images_path.name}")
        self.images = images
        self.labels = labels.astype(np.int64)
        self.num_classes = int(self.labels.max()) + 1
        self.channels = 1
        self.description = f"{images_path.name} ({len(images)} images, {self.num_classes} classes)"

    def __len__(self) -> int:
        return len(self.labels)

    def load(self, index: int) -> Tensor:
        return torch.from_numpy(self.images[index].astype(np.float32) / 255.0)[None]


class ClassFolders:
    """root/<class>/**/<image>; image headers are checked up front (bad ones skipped with skip_bad)."""

    def __init__(self, root: Path, channels: int, skip_bad: bool):
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if {"trainA", "trainB"} <= {folder.name for folder in folders}:
            raise PairlessError(f"--data {root} has the unpaired layout (trainA/, trainB/): class-conditional "
                                f"models train on labelled images, one folder per class (root/<class>/*.png)")
        if not folders:
            loose = " (it holds images directly: put each class in its own subfolder)" if list_images(root) else ""
            raise PairlessError(f"--data {root} has no class folders and no IDX files{loose}")
        if len(folders) < 2:
            raise PairlessError(f"--data {root} has one class folder ({folders[0].name}); class-conditional "
                                f"training needs at least two")
        self.channels, self.skip_bad = channels, skip_bad
        self.class_names = [folder.name for folder in folders]
        self.paths: list[Path] = []
        labels = []
        for label, folder in enumerate(folders):
            readable = [path for path in list_images(folder) if self._readable(path)]
            if not readable:
                raise PairlessError(f"class folder {folder} holds no readable images; remove it or add images")
            self.paths += readable
            labels += [label] * len(readable)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.num_classes = len(folders)
        self.description = f"{root} ({len(self.paths)} images, {self.num_classes} classes)"

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> Tensor:
        try:
            return read_image(self.paths[index], self.channels)
        except BadImageError as exc:
            if not self.skip_bad:
                raise BadImageError(str(exc) + SKIP_HINT) from None
            warn_bad_image(str(exc))
            same_class = np.flatnonzero(self.labels == self.labels[index])
            return self.load(int(same_class[(np.searchsorted(same_class, index) + 1) % len(same_class)]))

    def _readable(self, path: Path) -> bool:
        try:
            image_size(path)
            return True
        except BadImageError as exc:
            if not self.skip_bad:
                raise BadImageError(str(exc) + SKIP_HINT) from None
            warn_bad_image(str(exc))
            return False


def find_idx_pair(root: Path) -> tuple[Path, Path] | None:
    """The images/labels IDX files in `root` (the `train` pair when there are several), or None."""
    image_files = sorted(p for p in root.iterdir() if p.is_file() and "idx3" in p.name)
    if not image_files:
        return None
    if len(image_files) > 1:
        train = [p for p in image_files if p.name.startswith("train")]
        if len(train) != 1:
            names = ", ".join(p.name for p in image_files)
            raise PairlessError(f"--data {root} holds several IDX image files ({names}); keep one pair per folder")
        image_files = train
    images = image_files[0]
    labels = root / images.name.replace("images", "labels").replace("idx3", "idx1")
    if not labels.is_file():
        raise PairlessError(f"IDX images {images} have no labels file: expected {labels.name} beside it")
    return images, labels


def open_labelled_source(root: str | Path, channels: int = 3, skip_bad: bool = False) -> IdxImages | ClassFolders:
    root = Path(root)
    if not root.is_dir():
        raise PairlessError(f"data folder not found: {root} (check --data)")
    pair = find_idx_pair(root)
    return IdxImages(*pair) if pair else ClassFolders(root, channels, skip_bad)


def holdout_split(labels: np.ndarray, fraction: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices: round(fraction * n_c) (at least one) seeded-random images of each class c
    are held out when fraction > 0."""
    rng = np.random.default_rng(seed)
    train, heldout = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = max(1, round(fraction * len(members))) if fraction > 0 else 0
        if count >= len(members):
            raise PairlessError(f"class {label} has {len(members)} image(s): --holdout {fraction} leaves none to "
                                f"train on; lower --holdout (0 holds out nothing)")
        heldout.append(members[:count])
        train.append(members[count:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(heldout))


class LabelledImages(Dataset):
    """Training samples {image, label} addressed by a global sample index 0, 1, 2, ...

    An epoch visits every training image once in a seeded order; flips are drawn from a generator seeded
    by the sample index, so sample i does not depend on the number of workers and resuming is exact.
    """

    def __init__(self, cfg: DataConfig, seed: int = 0, holdout: float = 0.0):
        self.source = open_labelled_source(cfg.root, cfg.channels_a, cfg.skip_bad_images)
        self.cfg, self.seed = cfg, seed
        self.train_indices, self.heldout_indices = holdout_split(self.source.labels, holdout)
        self._order_cache: tuple[int, Tensor] | None = None

    @property
    def num_classes(self) -> int:
        return self.source.num_classes

    @property
    def channels(self) -> int:
        return self.source.channels

    def __len__(self) -> int:
        return len(self.train_indices)

    def __getitem__(self, index: int) -> dict:
        epoch, position = divmod(index, len(self))
        source_index = int(self.train_indices[int(self._epoch_order(epoch)[position])])
        image = self.transform(source_index)
        if self.cfg.flip and bool(torch.rand((), generator=sample_generator(self.seed, index)) < 0.5):
            image = image.flip(-1)
        return {"image": image, "label": torch.tensor(self.source.labels[source_index])}

    def transform(self, source_index: int) -> Tensor:
        image = self.source.load(source_index)
        return resize(image, self.cfg.size, self.cfg.size) * 2 - 1

    def fixed_batch(self, classes: int, probe: int) -> dict[str, Tensor]:
        """What sample grids and diagnostics use: a real image of each of the first `classes` classes
        (`real`, `label`) and up to `probe` evenly spread training and held-out images with their labels."""
        labels = self.source.labels
        train_labels = labels[self.train_indices]
        first_of_class = [int(self.train_indices[np.argmax(train_labels == c)])
                          for c in range(self.num_classes) if (train_labels == c).any()][:classes]
        batch = {"label": torch.as_tensor(labels[first_of_class]),
                 "real": torch.stack([self.transform(i) for i in first_of_class])}
        for name, indices in (("train", self.train_indices), ("heldout", self.heldout_indices)):
            if len(indices):
                chosen = indices[np.linspace(0, len(indices) - 1, min(probe, len(indices))).round().astype(int)]
                batch[f"probe_{name}"] = torch.stack([self.transform(int(i)) for i in chosen])
                batch[f"probe_{name}_label"] = torch.as_tensor(labels[chosen])
        return batch

    def _epoch_order(self, epoch: int) -> Tensor:
        if self._order_cache is None or self._order_cache[0] != epoch:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            self._order_cache = (epoch, torch.randperm(len(self), generator=generator))
        return self._order_cache[1]
