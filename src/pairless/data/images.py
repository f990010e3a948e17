"""Image files in and out, with errors that name the file.

Images become float tensors [C, H, W] in [0, 1]. 8-bit files go through Pillow (EXIF orientation applied);
16-bit PNGs are decoded by pypng and 16-bit TIFFs by tifffile, at full depth.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from pairless.errors import BadImageError, PairlessError, writing

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"})
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as Pillow's RGB -> L
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


def list_images(folder: str | Path) -> list[Path]:
    """Image files under `folder`, recursively, in a stable (sorted) order; hidden files are ignored.

    Linked folders are followed, but each real folder and each real file is listed once, and a link to
    `folder` itself or to a folder above it (a cycle, which would lead out into its neighbours) is skipped.
    """
    folder = Path(folder)
    seen_folders = {_identity(folder), *(_identity(parent) for parent in folder.resolve().parents)}
    seen_files, found, animations = set(), [], 0
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        kept = []
        for name in sorted(d for d in dirnames if not d.startswith(".")):
            identity = _identity(Path(dirpath) / name)
            if identity not in seen_folders:
                seen_folders.add(identity)
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            path = Path(dirpath) / name
            animations += path.suffix.lower() == ".gif" and not name.startswith(".")
            if name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            identity = _identity(path)
            if identity is None or identity not in seen_files:  # a broken link is listed: reading it says so
                seen_files.add(identity)
                found.append(path)
    if animations:
        warnings.warn(f"{folder}: {animations} GIF file(s) left out (GIFs are often animations, which are not one "
                      f"image); convert them to PNG to use them", stacklevel=2)
    return found


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of what `path` points to (None for a broken link)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def read_image(path: str | Path, channels: int | None = None) -> Tensor:
    """Decode an image file to float32 [C, H, W] in [0, 1]; `channels` 1 or 3 converts (None keeps)."""
    return pixels_to_image(read_pixels(path), channels)


def read_pixels(path: str | Path) -> Tensor:
    """An image file's pixels [C, H, W] as stored: uint8 for 8-bit files (a quarter of the memory of
    floats, for caching), float32 in [0, 1] for deeper ones."""
    path = Path(path)
    try:
        return _decode(path)
    except BadImageError:
        raise
    except FileNotFoundError:
        raise BadImageError(f"image not found: {path}") from None
    except Exception as exc:  # Pillow, tifffile and torchvision raise many types for broken files
        raise BadImageError(f"cannot read image {path}: {_reason(exc)}") from None


def pixels_to_image(pixels: Tensor, channels: int | None = None) -> Tensor:
    """`read_pixels`' output as float32 in [0, 1], converted to `channels` (None keeps)."""
    image = pixels.float() / 255.0 if pixels.dtype == torch.uint8 else pixels
    return to_channels(image, channels) if channels else image


EXIF_ORIENTATION = 0x0112
TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)
"""EXIF orientations that turn the image by 90 degrees (with or without a mirror): its sides swap."""


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels, as the image is shown and read:
    after its EXIF orientation."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            if _orientation(image) in TRANSPOSING_ORIENTATIONS:
                width, height = height, width
    except FileNotFoundError:
        raise BadImageError(f"image not found: {path}") from None
    except Exception as exc:
        raise BadImageError(f"cannot read image {path}: {_reason(exc)}") from None
    if width < 1 or height < 1:
        raise BadImageError(f"cannot read image {path}: it has no pixels")
    return width, height


def _orientation(image: Image.Image) -> int | None:
    """The EXIF orientation from the header (a PNG's eXIf chunk only when it comes before the pixels, as
    reading a later one would decode the image)."""
    if image.format == "PNG":
        raw = image.info.get("exif")
        if not raw:
            return None
        exif = Image.Exif()
        exif.load(raw)
        return exif.get(EXIF_ORIENTATION)
    return image.getexif().get(EXIF_ORIENTATION)


def to_channels(image: Tensor, channels: int) -> Tensor:
    """Convert [C, H, W] between gray (1) and colour (3); an alpha channel is dropped."""
    if image.shape[0] in (2, 4):
        image = image[:-1]
    if image.shape[0] == channels:
        return image
    if channels == 3:
        return image.expand(3, -1, -1).clone()
    if channels == 1:
        weights = torch.tensor(LUMA, dtype=image.dtype).view(3, 1, 1)
        return (image * weights).sum(0, keepdim=True)
    raise ValueError(f"channels must be 1 or 3, got {channels}")


def save_image(image: Tensor, path: str | Path, quality: int = 95) -> None:
    """Write [C, H, W] in [0, 1] as an 8-bit file whose format follows the extension."""
    path = Path(path)
    pixels = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    array = pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).numpy()
    options: dict[str, Any] = {"quality": quality} if path.suffix.lower() in {".jpg", ".jpeg", ".webp"} else {}
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path, **options)


def _decode(path: Path) -> Tensor:
    suffix = path.suffix.lower()
    if suffix == ".png" and _png_bit_depth(path) == 16:
        return _decode_png16(path)
    with Image.open(path) as opened:
        if suffix in {".tif", ".tiff"} and _tiff_bits(opened) > 8 and opened.mode not in _SIXTEEN_BIT_MODES:
            return _decode_tiff(path)
        image = ImageOps.exif_transpose(opened)
        if image.mode in _SIXTEEN_BIT_MODES:
            return torch.from_numpy(np.asarray(image, dtype=np.float32) / 65535.0)[None]
        if image.mode == "F":
            return torch.from_numpy(np.asarray(image, dtype=np.float32).clip(0, 1))[None]
        if image.mode not in {"L", "RGB"}:
            image = image.convert("L" if image.mode in {"1", "LA", "I"} else "RGB")
        array = np.asarray(image, dtype=np.uint8)
    tensor = torch.from_numpy(array.copy())
    return tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1).contiguous()


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as f:
        header = f.read(26)
    return header[24] if len(header) == 26 and header[:8] == b"\x89PNG\r\n\x1a\n" else 8


def _decode_png16(path: Path) -> Tensor:
    import png  # pypng: Pillow reduces 16-bit colour PNGs to 8 bits

    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = info["planes"]
    array = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, planes)
    return torch.from_numpy(array.astype(np.float32) / 65535.0).permute(2, 0, 1).contiguous()


def _tiff_bits(image: Image.Image) -> int:
    bits = getattr(image, "tag_v2", {}).get(258, 8)
    return max(bits) if isinstance(bits, tuple) else int(bits)


def _decode_tiff(path: Path) -> Tensor:
    import tifffile

    array = tifffile.imread(path)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)
    scale = float(np.iinfo(array.dtype).max) if np.issubdtype(array.dtype, np.integer) else 1.0
    tensor = torch.from_numpy(array.astype(np.float32) / scale).clamp(0, 1)
    return tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1).contiguous()


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.replace("cannot identify image file", "not an image file Pillow can identify")


def warn_bad_image(message: str) -> None:
    warnings.warn(f"skipping: {message}", stacklevel=2)


def require_folder(folder: Path, what: str, option: str) -> list[Path]:
    """The images of a data folder, or an error naming the folder and the option to change."""
    if not folder.is_dir():
        raise PairlessError(f"{what} folder not found: {folder} (check {option})")
    images = list_images(folder)
    if not images:
        exts = " ".join(sorted(IMAGE_EXTENSIONS))
        raise PairlessError(f"{what} folder {folder} holds no images ({exts}); check {option}")
    return images
