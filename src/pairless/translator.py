"""Using a trained model: `pairless.load(path).translate(images)` and file/folder translation.

Any input size works, down to 1x1: images are padded (reflect) to the generator's size multiple, and
to at least MIN_NETWORK_SIDE, and cropped back. With `tile`, large images go through the model in
overlapping, blended tiles (see pairless.tiling). Tensors are [C, H, W] or [N, C, H, W], floats in [0, 1]
like torchvision's (or uint8 in 0..255, which come back as uint8); PIL images come back as PIL images.
Files are never written over the input images.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from pairless.checkpoint import load_model
from pairless.config import RunConfig
from pairless.data.images import IMAGE_EXTENSIONS, list_images, read_image, save_image, to_channels
from pairless.data.transforms import pad_to_multiple
from pairless.devices import available_memory, resolve_device
from pairless.errors import PairlessError
from pairless.models.base import TranslationModel
from pairless.tiling import check_tiling, translate_tiled

OUTPUT_FORMATS = ("png", "jpg", "webp", "tif")
MIN_NETWORK_SIDE = 8
"""Inputs are padded to at least this many pixels per side: ResNet generators (CUT, CycleGAN, U-GAT-IT, ...)
halve the image twice and reflection-pad the result, which needs more than one pixel."""
CHANNEL_COUNTS = (1, 2, 3, 4)
"""Gray, gray + alpha, RGB, RGBA (alpha is dropped)."""
PROBE_SIDE = 64
MEMORY_PER_LARGEST_ACTIVATION = 7
"""Peak memory of an untiled translation / its largest activation: 3.5-3.8 measured for CUT, 4.4 for
CycleGAN, 6.4 for U-GAT-IT light (CPU, 1000-2000 px images, peak resident memory); above the largest."""


class Translator:
    def __init__(self, model: TranslationModel, config: RunConfig, step: int = 0):
        self.model = model.eval()
        self.config = config
        self.step = step
        self._largest_activation: dict[str, int] = {}

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> Translator:
        model, config, step = load_model(path, resolve_device(device))
        if not isinstance(model, TranslationModel):
            raise PairlessError(f"{path} holds a {config.method} model, which generates images from class "
                                f"labels rather than translating them; use `pairless generate`")
        return cls(model, config, step)

    @property
    def directions(self) -> tuple[str, ...]:
        return self.model.directions

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> Translator:
        self.model.to(resolve_device(str(device)))
        return self

    def translate(self, images, direction: str = "AtoB", tile: int | None = None, overlap: int = 64,
                  tile_stats: str = "exact"):
        """Translate a PIL image, a list of them, or a tensor [C, H, W] / [N, C, H, W] in [0, 1].

        `tile` (pixels) translates images larger than tile × tile in tiles overlapping by `overlap`;
        `tile_stats` says where instance norms take their statistics from then (see pairless.tiling).
        """
        options: dict[str, Any] = {"direction": direction, "tile": tile, "overlap": overlap, "tile_stats": tile_stats}
        if isinstance(images, Image.Image):
            return self.translate([images], **options)[0]
        if isinstance(images, Tensor):
            if images.ndim not in (3, 4):
                raise ValueError(f"translate() takes image tensors [C, H, W] or [N, C, H, W], got shape "
                                 f"{tuple(images.shape)}")
            batch = images[None] if images.ndim == 3 else images
            out = self.translate_tensor(batch, **options)
            return out[0] if images.ndim == 3 else out
        if isinstance(images, Sequence) and all(isinstance(i, Image.Image) for i in images):
            return [tensor_to_pil(self.translate_tensor(pil_to_tensor(i)[None], **options)[0]) for i in images]
        raise TypeError("translate() takes a PIL image, a list of PIL images, or a tensor in [0, 1]")

    @torch.inference_mode()
    def translate_tensor(self, batch: Tensor, direction: str = "AtoB", tile: int | None = None,
                         overlap: int = 64, tile_stats: str = "exact") -> Tensor:
        """[N, C, H, W] in [0, 1] -> [N, C', H, W] in [0, 1], any H and W (uint8 in 0..255 -> uint8).

        Untiled, the result is on the model's device; tiled, it is assembled on the input's device, so
        only one tile has to fit on the model's.
        """
        source = self._source_channels(unit_floats(batch), direction)
        if tile is None:
            self.check_memory(source, direction)
            out = self._translate_padded(source, direction)
        else:
            out = translate_tiled(lambda part: self._translate_padded(part, direction), self.model, source, tile,
                                  overlap, self.model.size_multiple, self.device, tile_stats)
        return (out * 255).round().to(torch.uint8) if batch.dtype == torch.uint8 else out

    def check_memory(self, batch: Tensor, direction: str) -> None:
        """Refuse an untiled translation that would not fit in the device's memory, before starting it."""
        available = available_memory(self.device)
        if available is None:  # a device that does not say: nothing to compare the estimate with
            return
        needed = self.untiled_memory(batch.shape, direction)
        if needed > available:
            height, width = batch.shape[-2:]
            raise PairlessError(f"translating {width}x{height} px images in one piece needs about {needed / 2**30:.1f} "
                                f"GB of memory, more than the {available / 2**30:.1f} GB available: translate in "
                                f"tiles (--tile 1024, or tile=1024 in Python), which gives nearly the same result")

    def untiled_memory(self, shape: torch.Size, direction: str) -> int:
        """Estimated peak bytes of translating a batch of `shape` untiled: the largest activation of a probe
        translation, scaled to the batch's pixels, times MEMORY_PER_LARGEST_ACTIVATION."""
        if direction not in self._largest_activation:
            self._largest_activation[direction] = self._probe_largest_activation(direction)
        pixels = shape[0] * shape[-2] * shape[-1] / PROBE_SIDE ** 2
        return int(self._largest_activation[direction] * pixels * MEMORY_PER_LARGEST_ACTIVATION)

    def _probe_largest_activation(self, direction: str) -> int:
        sizes = [0]

        def record(module, inputs, output) -> None:
            if isinstance(output, Tensor):
                sizes.append(output.numel() * output.element_size())

        leaves = [m for m in self.model.modules() if not list(m.children())]
        hooks = [m.register_forward_hook(record) for m in leaves]
        try:
            probe = torch.zeros(1, self.model.input_channels(direction), PROBE_SIDE, PROBE_SIDE)
            self._translate_padded(probe, direction)
        finally:
            for hook in hooks:
                hook.remove()
        return max(sizes)

    def _source_channels(self, batch: Tensor, direction: str) -> Tensor:
        self.model.check_direction(direction)
        channels = self.model.input_channels(direction)
        if batch.shape[1] != channels:
            batch = torch.stack([to_channels(image, channels) for image in batch])
        return batch

    def _translate_padded(self, batch: Tensor, direction: str) -> Tensor:
        height, width = batch.shape[-2:]
        out = self.model.translate(self.pad(batch) * 2 - 1, direction)
        return ((out[..., :height, :width].float() + 1) / 2).clamp(0, 1)

    def pad(self, batch: Tensor) -> Tensor:
        """`batch` on the model's device as float32, padded to a size the generator takes."""
        return pad_to_multiple(batch.to(self.device, torch.float32), self.model.size_multiple, MIN_NETWORK_SIDE)


def unit_floats(batch: Tensor) -> Tensor:
    """Check images [N, C, H, W] given to the API: floats in [0, 1] stay, uint8 (0..255) become floats in
    [0, 1]; anything else is a TypeError or ValueError that says what is expected."""
    if batch.ndim != 4:
        raise ValueError(f"expected images [N, C, H, W], got shape {tuple(batch.shape)}")
    if batch.shape[1] not in CHANNEL_COUNTS:
        raise ValueError(f"expected 1 (gray) or 3 (RGB) channels, optionally with alpha, in dimension 1 of "
                         f"[N, C, H, W], got shape {tuple(batch.shape)}")
    if 0 in batch.shape:
        raise ValueError(f"no pixels to translate: shape {tuple(batch.shape)}")
    if batch.dtype == torch.uint8:
        return batch.float() / 255
    if not batch.is_floating_point():
        raise TypeError(f"expected float images in [0, 1] or uint8 images in 0..255, got {batch.dtype}")
    if not torch.isfinite(batch).all():
        raise ValueError("the images contain NaN or infinite values")
    if batch.min() < 0 or batch.max() > 1:
        raise ValueError(f"float images must lie in [0, 1], these span [{batch.min():.3g}, {batch.max():.3g}]; "
                         f"from [-1, 1] use (x + 1) / 2, from 0..255 use x / 255, after resizing .clamp(0, 1)")
    return batch


def pil_to_tensor(image: Image.Image) -> Tensor:
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    array = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    channels = 1 if image.mode == "L" else 3
    return array.view(image.height, image.width, channels).permute(2, 0, 1).float() / 255


def tensor_to_pil(image: Tensor) -> Image.Image:
    array = (image.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    if array.shape[0] == 1:
        return Image.fromarray(array[0].numpy(), mode="L")
    return Image.fromarray(array.permute(1, 2, 0).numpy(), mode="RGB")


def collect_inputs(inputs: Iterable[str | Path]) -> list[tuple[Path, Path]]:
    """(image path, output path relative to the output folder) for files and folders (recursively)."""
    pairs = []
    for item in map(Path, inputs):
        if item.is_dir():
            images = list_images(item)
            if not images:
                raise PairlessError(f"input folder {item} holds no images")
            pairs += [(path, path.relative_to(item)) for path in images]
        elif item.is_file():
            if item.suffix.lower() not in IMAGE_EXTENSIONS:
                raise PairlessError(f"input {item} is not an image file ({' '.join(sorted(IMAGE_EXTENSIONS))})")
            pairs.append((item, Path(item.name)))
        else:
            raise PairlessError(f"input not found: {item}")
    return pairs


def translate_paths(translator: Translator, inputs: Iterable[str | Path], out_dir: str | Path,
                    direction: str = "AtoB", batch_size: int = 1, image_format: str = "png",
                    quality: int = 95, progress=None, tile: int | None = None, overlap: int = 64,
                    tile_stats: str = "exact") -> list[Path]:
    """Translate image files and folders into `out_dir` (folder structure kept); returns written paths."""
    if image_format not in OUTPUT_FORMATS:
        raise PairlessError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}, got {image_format!r}")
    if not 1 <= quality <= 100:
        raise PairlessError(f"--quality must be in [1, 100] (JPEG and WebP), got {quality}")
    if tile is not None:
        check_tiling(tile, overlap, tile_stats)
    translator.model.check_direction(direction)
    jobs = output_jobs(inputs, out_dir, f".{image_format}")
    channels = translator.model.input_channels(direction)
    written = []
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        for group in _same_size_groups([(read_image(src, channels), dst) for src, dst in chunk]):
            batch = torch.stack([image for image, _ in group])
            outputs = translator.translate_tensor(batch, direction, tile=tile, overlap=overlap, tile_stats=tile_stats)
            for output, (_, dst) in zip(outputs, group, strict=True):
                save_image(output, dst, quality=quality)
                written.append(dst)
        if progress:
            progress(len(written), len(jobs))
    return written


def output_jobs(inputs: Iterable[str | Path], out_dir: str | Path, suffix: str) -> list[tuple[Path, Path]]:
    """(input image, output file) for each input image, the input folder structure kept under `out_dir`.

    Refuses outputs that would land on one another or on an input image, which can happen when `out_dir`
    is, contains or lies inside an input folder (`translate photos --out photos`).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise PairlessError(f"--out {out_dir} is a file; the translations go into a folder: choose another --out")
    jobs = [(src, out_dir / rel.with_suffix(suffix)) for src, rel in collect_inputs(inputs)]
    targets = [dst for _, dst in jobs]
    if len(set(targets)) != len(targets):
        duplicate = next(t for t in targets if targets.count(t) > 1)
        raise PairlessError(f"two inputs would both be written to {duplicate}; translate them separately")
    sources = {file_identity(src): src for src, _ in jobs}
    for _, dst in jobs:
        if file_identity(dst) in sources:
            raise PairlessError(f"--out {out_dir} would write over the input image {sources[file_identity(dst)]}; "
                                f"choose an output folder outside the input folders (or another --format)")
    return jobs


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, following links (so two names of one file compare equal)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _same_size_groups(items: list[tuple[Tensor, Path]]) -> list[list[tuple[Tensor, Path]]]:
    groups: dict[tuple[int, ...], list] = {}
    for image, dst in items:
        groups.setdefault(tuple(image.shape), []).append((image, dst))
    return list(groups.values())
