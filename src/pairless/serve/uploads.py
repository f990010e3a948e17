"""One image at a time: decode an upload, translate it, encode the result as PNG data, drop the pixels.

A request may carry many files that are small compressed but large decoded (16 flat 4000 x 4000 PNGs are
1 MB of files and 3 GB of float pixels), so the server never holds more than one decoded image and its
translation. Running out of memory is reported as such (HTTP 503, naming the options that help), never as
a file the server cannot read.
"""

from __future__ import annotations

import base64
import io
import re
import time
from pathlib import PurePath

import torch
from PIL import Image, ImageOps
from torch import Tensor

from pairless.data.images import to_channels
from pairless.errors import PairlessError
from pairless.serve.limits import MEGABYTE, ServeSettings, UploadRefused
from pairless.translator import Translator, pil_to_tensor, tensor_to_pil

UNREADABLE = "is not an image this server can read (PNG, JPEG, WebP, BMP, TIFF)"
ALLOCATION_FAILURES = ("can't allocate memory", "out of memory", "not enough memory")
"""How torch's allocators word a failed allocation in the RuntimeError they raise (CPU, CUDA, MPS)."""


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(words in str(exc).lower() for words in ALLOCATION_FAILURES)


def out_of_memory(name: str) -> UploadRefused:
    return UploadRefused(f"the server ran out of memory while working on {name}; try a smaller image, or start "
                         "the server with a lower --max-megapixels or with --tile 512 (large images in tiles)", 503)


def decode_upload(name: str, data: bytes, settings: ServeSettings) -> Tensor:
    """An uploaded file (its first max_upload_bytes + 1 bytes) as [C, H, W] in [0, 1], or UploadRefused
    saying why not. A failed allocation is raised as it is, to be reported as memory."""
    if len(data) > settings.max_upload_bytes:
        raise UploadRefused(f"{name} is too large: the limit is {settings.max_upload_mb:g} MB "
                            "(pairless serve --max-upload-mb)", 413)
    too_large = UploadRefused(f"{name} has more than {settings.max_megapixels:g} megapixels "
                              "(pairless serve --max-megapixels)", 413)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > settings.max_megapixels * MEGABYTE:
                raise too_large
            image = ImageOps.exif_transpose(opened)
            image.load()
            return pil_to_tensor(image)
    except Image.DecompressionBombError:
        raise too_large from None
    except UploadRefused:
        raise
    except Exception as exc:  # Pillow raises many types for files it cannot decode
        if is_out_of_memory(exc):
            raise
        raise UploadRefused(f"{name} {UNREADABLE}", 415) from None


def png_bytes(image: Tensor) -> bytes:
    buffer = io.BytesIO()
    tensor_to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


def png_data_url(image: Tensor) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def download_name(upload_name: str, direction: str) -> str:
    """`photo.jpg` -> `photo_AtoB.png`, with anything but letters, digits, `-`, `_` and `.` replaced."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", PurePath(upload_name.replace("\\", "/")).stem).strip("._") or "image"
    return f"{stem}_{direction}.png"


def translate_upload(translator: Translator, image: Tensor, direction: str, attention: bool,
                     settings: ServeSettings) -> dict[str, str | None]:
    """The translation of one decoded image (and its attention overlay if asked) as PNG data URLs."""
    tile, overlap = settings.tile, settings.overlap
    output = translator.translate_tensor(image[None], direction, tile=tile, overlap=overlap)[0]
    result = {"output": png_data_url(output), "attention": None}
    del output
    if attention:
        from pairless.attention import attention_maps, overlay

        source = to_channels(image, translator.model.input_channels(direction))
        heat = attention_maps(translator, source[None], direction, tile=tile, overlap=overlap)[0]
        result["attention"] = png_data_url(overlay(source, heat))
    return result


@torch.inference_mode()
def translate_file(translator: Translator, name: str, data: bytes, direction: str, attention: bool,
                   settings: ServeSettings) -> dict:
    """One file from bytes to the reply's entry. Its pixels live only inside this call, so a caller that
    handles files one after another holds one decoded image at a time."""
    started = time.perf_counter()
    try:
        image = decode_upload(name, data, settings)
        translated = translate_upload(translator, image, direction, attention, settings)
    except PairlessError as exc:  # the translator refuses, e.g. an image its memory estimate says cannot fit
        raise UploadRefused(f"{name}: {exc}", 413) from None
    except Exception as exc:
        if is_out_of_memory(exc):
            raise out_of_memory(name) from None
        raise
    return {"name": name, "download": download_name(name, direction), "width": image.shape[-1],
            "height": image.shape[-2], "seconds": round(time.perf_counter() - started, 3), **translated}
