"""Using a trained model: `pairless.load(path).translate(images)` and file/folder translation.

Any input size works: images are padded (reflect) to the generator's size multiple and cropped back.
With `tile`, large images go through the model in overlapping, blended tiles (see pairless.tiling).
Tensors are [C, H, W] or [N, C, H, W] in [0, 1], like torchvision's; PIL images come back as PIL images.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from pairless.config import RunConfig
from pairless.data.transforms import pad_to_multiple
from pairless.data.images import IMAGE_EXTENSIONS, list_images, read_image, save_image, to_channels
from pairless.devices import resolve_device
from pairless.errors import PairlessError
from pairless.models.base import TranslationModel
from pairless.tiling import check_tiling, translate_tiled
from pairless.train.checkpoint import load_model

OUTPUT_FORMATS = ("png", "jpg", "webp", "tif")


class Translator:
    def __init__(self, model: TranslationModel, config: RunConfig, step: int = 0):
        self.model = model.eval()
        self.config = config
        self.step = step

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
        options = {"direction": direction, "tile": tile, "overlap": overlap, "tile_stats": tile_stats}
        if isinstance(images, Image.Image):
            return self.translate([images], **options)[0]
        if isinstance(images, Tensor):
            batch = images[None] if images.ndim == 3 else images
            out = self.translate_tensor(batch, **options)
            return out[0] if images.ndim == 3 else out
        if isinstance(images, Sequence) and all(isinstance(i, Image.Image) for i in images):
            return [tensor_to_pil(self.translate_tensor(pil_to_tensor(i)[None], **options)[0]) for i in images]
        raise TypeError("translate() takes a PIL image, a list of PIL images, or a tensor in [0, 1]")

    @torch.inference_mode()
    def translate_tensor(self, batch: Tensor, direction: str = "AtoB", tile: int | None = None,
                         overlap: int = 64, tile_stats: str = "exact") -> Tensor:
        """[N, C, H, W] in [0, 1] -> [N, C', H, W] in [0, 1], any H and W.

        Untiled, the result is on the model's device; tiled, it is assembled on the input's device, so
        only one tile has to fit on the model's.
        """
        batch = self._source_channels(batch, direction)
        if tile is None:
            return self._translate_padded(batch, direction)
        return translate_tiled(lambda part: self._translate_padded(part, direction), self.model, batch, tile,
                               overlap, self.model.size_multiple, self.device, tile_stats)

    def _source_channels(self, batch: Tensor, direction: str) -> Tensor:
        self.model.check_direction(direction)
        channels = self.model.input_channels(direction)
        if batch.shape[1] != channels:
            batch = torch.stack([to_channels(image, channels) for image in batch])
        return batch

    def _translate_padded(self, batch: Tensor, direction: str) -> Tensor:
        height, width = batch.shape[-2:]
        padded = pad_to_multiple(batch.to(self.device, torch.float32), self.model.size_multiple)
        out = self.model.translate(padded * 2 - 1, direction)
        return ((out[..., :height, :width].float() + 1) / 2).clamp(0, 1)


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
    if tile is not None:
        check_tiling(tile, overlap, tile_stats)
    translator.model.check_direction(direction)
    out_dir = Path(out_dir)
    jobs = [(src, out_dir / rel.with_suffix(f".{image_format}")) for src, rel in collect_inputs(inputs)]
    targets = [dst for _, dst in jobs]
    if len(set(targets)) != len(targets):
        duplicate = next(t for t in targets if targets.count(t) > 1)
        raise PairlessError(f"two inputs would both be written to {duplicate}; translate them separately")
    channels = translator.model.input_channels(direction)
    written = []
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        for group in _same_size_groups([(read_image(src, channels), dst) for src, dst in chunk]):
            batch = torch.stack([image for image, _ in group])
            outputs = translator.translate_tensor(batch, direction, tile=tile, overlap=overlap, tile_stats=tile_stats)
            for output, (_, dst) in zip(outputs, group):
                save_image(output, dst, quality=quality)
                written.append(dst)
        if progress:
            progress(len(written), len(jobs))
    return written


def _same_size_groups(items: list[tuple[Tensor, Path]]) -> list[list[tuple[Tensor, Path]]]:
    groups: dict[tuple[int, ...], list] = {}
    for image, dst in items:
        groups.setdefault(tuple(image.shape), []).append((image, dst))
    return list(groups.values())
