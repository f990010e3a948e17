"""Single-image training data (SinCUT): many random zooms and patches of one image per domain.

Like the CUT reference's `zoom_and_patch`, a sample zooms each axis of the image by its own random factor
in [1/random_scale_max, 1] (never below the crop size), lays a grid of non-overlapping crop-size cells over
the zoomed image at a random offset, and takes one cell, randomly flipped. As the reference intends, the
samples of one minibatch share the zoom and take different cells, so the PatchNCE negatives pooled over
the minibatch come from different places of the image. The image is used at its own resolution (the
reference's load size does not resize it); `--load-size`, if given, first scales its long side to that.

Sample i depends only on (seed, i, batch size), so resuming continues the same sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from pairless.data.config import DataConfig
from pairless.data.images import read_image, require_folder
from pairless.data.transforms import round_to_multiple
from pairless.data.unpaired import sample_generator
from pairless.errors import PairlessError

VIRTUAL_EPOCH = 100_000
"""Samples per epoch: the reference counts one pass over the single image as 100,000 crops."""
PREVIEW_MAX_SIDE = 256


def resize_bilinear(image: Tensor, height: int, width: int) -> Tensor:
    """The reference resizes single images bilinearly (antialiased when shrinking)."""
    return TF.resize(image, [height, width], interpolation=InterpolationMode.BILINEAR, antialias=True)


def batch_generator(seed: int, batch_number: int, domain: int) -> torch.Generator:
    """The generator of one minibatch's zoom and grid for one domain, well mixed from its keys."""
    state = np.random.SeedSequence([seed, batch_number, domain]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))


@dataclass(frozen=True)
class PatchGrid:
    """Where one minibatch's patches come from: the zoomed size, the grid offset, the cell order."""

    height: int
    width: int
    top: int
    left: int
    cell_order: Tensor

    def cell(self, slot: int, size: int) -> tuple[int, int]:
        """(top, left) of the patch of minibatch position `slot` (cells repeat only past the cell count)."""
        columns = self.width // size
        row, column = divmod(int(self.cell_order[slot % len(self.cell_order)]), columns)
        return self.top + row * size, self.left + column * size


def draw_patch_grid(height: int, width: int, size: int, random_scale_max: float,
                    generator: torch.Generator) -> PatchGrid:
    low = 1 / random_scale_max
    zoom_y, zoom_x = (low + (1 - low) * torch.rand(2, generator=generator, dtype=torch.float64)).tolist()
    zoomed_h, zoomed_w = max(size, round(height * zoom_y)), max(size, round(width * zoom_x))
    rows, columns = zoomed_h // size, zoomed_w // size
    top = int(torch.randint(zoomed_h - rows * size + 1, (), generator=generator))
    left = int(torch.randint(zoomed_w - columns * size + 1, (), generator=generator))
    return PatchGrid(zoomed_h, zoomed_w, top, left, torch.randperm(rows * columns, generator=generator))


class SingleImageDomain:
    """One domain's image and its zoomed copy for the current minibatch (computed once per minibatch)."""

    def __init__(self, image: Tensor, path: Path, cfg: DataConfig, seed: int, domain: int):
        self.image, self.path = image, path
        self.size, self.random_scale_max = cfg.size, cfg.random_scale_max
        self.seed, self.domain = seed, domain
        self._zoomed: tuple[int, PatchGrid, Tensor] | None = None

    def patch(self, batch_number: int, slot: int) -> Tensor:
        grid, zoomed = self._zoom(batch_number)
        top, left = grid.cell(slot, self.size)
        return zoomed[:, top:top + self.size, left:left + self.size]

    def _zoom(self, batch_number: int) -> tuple[PatchGrid, Tensor]:
        if self._zoomed is None or self._zoomed[0] != batch_number:
            height, width = self.image.shape[-2:]
            generator = batch_generator(self.seed, batch_number, self.domain)
            grid = draw_patch_grid(height, width, self.size, self.random_scale_max, generator)
            self._zoomed = (batch_number, grid, resize_bilinear(self.image, grid.height, grid.width))
        return self._zoomed[1], self._zoomed[2]


class SingleImagePair(Dataset):
    """Training samples {A, B, A_path, B_path} from one image per domain, addressed by a global sample
    index; samples i with the same i // batch_size form one minibatch (one zoom per domain)."""

    fixed_shape = True

    def __init__(self, cfg: DataConfig, seed: int = 0, batch_size: int = 1):
        self.cfg, self.seed, self.batch_size = cfg, seed, batch_size
        images = load_single_images(cfg)
        self.a = SingleImageDomain(*images["A"], cfg, seed, domain=0)
        self.b = SingleImageDomain(*images["B"], cfg, seed, domain=1)

    def __len__(self) -> int:
        return VIRTUAL_EPOCH

    def __getitem__(self, index: int) -> dict:
        batch_number, slot = divmod(index, self.batch_size)
        flips = sample_generator(self.seed, index)
        return {"A": self._finish(self.a.patch(batch_number, slot), flips),
                "B": self._finish(self.b.patch(batch_number, slot), flips),
                "A_path": str(self.a.path), "B_path": str(self.b.path)}

    def _finish(self, patch: Tensor, generator: torch.Generator) -> Tensor:
        """Random horizontal flip, then [0, 1] -> [-1, 1]."""
        if self.cfg.flip and bool(torch.rand((), generator=generator) < 0.5):
            patch = patch.flip(-1)
        return patch * 2 - 1


def single_image_paths(cfg: DataConfig) -> dict[str, Path]:
    """The image of each domain: --data-a / --data-b, or the only image in trainA/ and trainB/ of --data."""
    if cfg.data_a:
        paths = {"A": Path(cfg.data_a), "B": Path(cfg.data_b)}
        for domain, path in paths.items():
            if not path.is_file():
                raise PairlessError(f"image not found: {path} (check --data-{domain.lower()})")
        return paths
    if not cfg.root:
        raise PairlessError("single-image training needs --data-a and --data-b (one image per domain)")
    root = Path(cfg.root)
    if not root.is_dir():
        raise PairlessError(f"data folder not found: {root} (check --data)")
    paths = {}
    for domain in ("A", "B"):
        images = require_folder(root / f"train{domain}", f"train{domain}", "--data")
        if len(images) != 1:
            raise PairlessError(
                f"{root / f'train{domain}'} holds {len(images)} images, but single-image training "
                f"(--preprocess zoom_and_patch) takes exactly one per domain: pass the two images with "
                f"--data-a and --data-b"
            )
        paths[domain] = images[0]
    return paths


def load_single_images(cfg: DataConfig) -> dict[str, tuple[Tensor, Path]]:
    """{"A": (image, path), "B": ...} in [0, 1], domains swapped for BtoA, long side scaled to --load-size
    if one is given."""
    paths = single_image_paths(cfg)
    src, dst = ("A", "B") if cfg.direction == "AtoB" else ("B", "A")
    channels = {"A": cfg.channels_a, "B": cfg.channels_b}
    images = {}
    for key, domain in (("A", src), ("B", dst)):
        image = read_image(paths[domain], channels[domain])
        if cfg.load_size is not None:
            height, width = image.shape[-2:]
            scale = cfg.load_size / max(height, width)
            image = resize_bilinear(image, max(1, round(height * scale)), max(1, round(width * scale)))
        images[key] = (image, paths[domain])
    return images


def single_image_preview(cfg: DataConfig) -> dict[str, Tensor]:
    """A fixed batch for sample grids: each domain's image scaled and centre-cropped to one square
    (4x the crop size, at most 256 px) that shows most of the image."""
    side = round_to_multiple(min(4 * cfg.size, PREVIEW_MAX_SIDE))
    batch = {}
    for key, (image, _) in load_single_images(cfg).items():
        height, width = image.shape[-2:]
        scale = side / min(height, width)
        scaled = resize_bilinear(image, max(side, round(height * scale)), max(side, round(width * scale)))
        top, left = (scaled.shape[-2] - side) // 2, (scaled.shape[-1] - side) // 2
        batch[key] = (scaled[:, top:top + side, left:left + side] * 2 - 1)[None]
    return batch
