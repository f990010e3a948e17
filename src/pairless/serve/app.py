"""The web app behind `pairless serve`: one loaded model, a static page and a small JSON API.

- `GET /` the page (static/index.html), `GET /api/info` the model's name, step, directions and limits,
  `POST /api/translate` (multipart: `files`, `direction`, `attention`) the translations as PNG data URLs.
- The model is loaded once; a lock lets one request at a time use it, and everything a request needs lives
  in its own local variables, so concurrent requests never see each other's images.
- Uploads are refused with a message the page shows: non-images, files over the size limit, images over the
  pixel limit, too many files. The request size limit holds for any transfer encoding: bodies are counted
  while they stream in, and reading stops at the limit (chunked uploads carry no Content-Length). The app
  writes no files: uploads are decoded in memory (while parsing, Starlette spools request bodies over 1 MB
  to the system temp folder) and results go back in the reply.
"""

from __future__ import annotations

import base64
import io
import re
import socket
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePath

import torch
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse
from PIL import Image, ImageOps
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from torch import Tensor

from pairless.data.images import to_channels
from pairless.errors import PairlessError
from pairless.fields import Checked, bounded
from pairless.translator import Translator, pil_to_tensor, tensor_to_pil

MEGABYTE = 1_000_000


@dataclass(frozen=True)
class ServeSettings(Checked):
    max_upload_mb: float = bounded(20, above=0)
    """Largest accepted file, in MB (10^6 bytes)."""
    max_megapixels: float = bounded(16, above=0)
    """Largest accepted image, in millions of pixels (checked from the header, before decoding)."""
    max_files: int = bounded(16, at_least=1)
    """Most images in one request."""
    tile: int | None = None
    """Translate images larger than tile x tile in blended tiles (see pairless.tiling)."""
    overlap: int = 64

    def cross_check(self) -> None:
        if self.tile is not None:
            from pairless.tiling import check_tiling

            check_tiling(self.tile, self.overlap)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MEGABYTE)

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_files * self.max_upload_mb * MEGABYTE) + MEGABYTE


class UploadRefused(HTTPException):
    """A request the page should explain to the user (message) with an HTTP status. An HTTPException, so
    that FastAPI passes it on when it is raised while the request body is being read."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(status, message)
        self.status = status

    def __str__(self) -> str:
        return self.detail


class RequestSizeLimit:
    """ASGI middleware: refuse (413) a request body over `settings.max_request_bytes`, from its declared
    Content-Length or, whatever the headers say, as soon as the bytes read exceed the limit."""

    def __init__(self, app: ASGIApp, settings: ServeSettings):
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.settings.max_request_bytes:
            response = JSONResponse({"error": self.message(f"is {int(length) / MEGABYTE:.1f} MB")}, 413)
            return await response(scope, receive, send)
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.settings.max_request_bytes:
                raise UploadRefused(self.message(f"exceeds {self.settings.max_request_bytes / MEGABYTE:.1f} MB"),
                                    413)
            return message

        await self.app(scope, counted_receive, send)

    def message(self, size: str) -> str:
        s = self.settings
        return (f"the upload {size}; at most {s.max_files} files of {s.max_upload_mb:g} MB each are accepted "
                "(pairless serve --max-upload-mb)")


def has_attention(translator: Translator) -> bool:
    """Models with attention maps (U-GAT-IT); the page offers them then."""
    return translator.model.has_attention_maps


def decode_upload(name: str, data: bytes, settings: ServeSettings) -> Tensor:
    """An uploaded file (its first max_upload_bytes + 1 bytes) as [C, H, W] in [0, 1], or UploadRefused
    saying why not."""
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
    except Exception:  # Pillow raises many types for files it cannot decode
        raise UploadRefused(f"{name} is not an image this server can read (PNG, JPEG, WebP, BMP, TIFF)",
                            415) from None


def png_data_url(image: Tensor) -> str:
    buffer = io.BytesIO()
    tensor_to_pil(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def download_name(upload_name: str, direction: str) -> str:
    """`photo.jpg` -> `photo_AtoB.png`, with anything but letters, digits, `-`, `_` and `.` replaced."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", PurePath(upload_name.replace("\\", "/")).stem).strip("._") or "image"
    return f"{stem}_{direction}.png"


def translate_upload(translator: Translator, image: Tensor, direction: str, attention: bool,
                     settings: ServeSettings) -> dict[str, str | None]:
    output = translator.translate_tensor(image[None], direction, tile=settings.tile, overlap=settings.overlap)[0]
    result = {"output": png_data_url(output), "attention": None}
    if attention:
        from pairless.attention import attention_maps, overlay

        source = to_channels(image, translator.model.input_channels(direction))
        result["attention"] = png_data_url(overlay(source, attention_maps(translator, source[None], direction)[0]))
    return result


def create_app(translator: Translator, settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    model_lock = threading.Lock()
    page = resources.files("pairless.serve").joinpath("static", "index.html").read_text(encoding="utf-8")
    app = FastAPI(title="pairless", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(UploadRefused)
    def refused(request: Request, exc: UploadRefused) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    app.add_middleware(RequestSizeLimit, settings=settings)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/api/info")
    def info() -> dict:
        return {"method": translator.config.method, "step": translator.step,
                "directions": list(translator.directions), "attention": has_attention(translator),
                "max_upload_mb": settings.max_upload_mb, "max_megapixels": settings.max_megapixels,
                "max_files": settings.max_files}

    @app.post("/api/translate")
    def translate(files: list[UploadFile] = File(default=[]), direction: str = Form("AtoB"),
                  attention: bool = Form(False)) -> dict:
        if not files:
            raise UploadRefused("choose one or more images first")
        if len(files) > settings.max_files:
            raise UploadRefused(f"{len(files)} files; at most {settings.max_files} per request", 413)
        if direction not in translator.directions:
            raise UploadRefused(f"this model translates {' and '.join(translator.directions)}, not {direction}")
        if attention and not has_attention(translator):
            raise UploadRefused(f"the {translator.config.method} model has no attention maps")
        names = [upload.filename or f"image{i + 1}" for i, upload in enumerate(files)]
        images = [decode_upload(name, upload.file.read(settings.max_upload_bytes + 1), settings)
                  for name, upload in zip(names, files, strict=True)]
        results = []
        for name, image in zip(names, images, strict=True):
            with model_lock, torch.inference_mode():
                translated = translate_upload(translator, image, direction, attention, settings)
            results.append({"name": name, "download": download_name(name, direction),
                            "width": image.shape[-1], "height": image.shape[-2], **translated})
        return {"direction": direction, "results": results}

    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or an error naming the option to change."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PairlessError(f"cannot listen on {host}:{port} ({exc.strerror}); "
                            "choose another --port or --host") from None
    sock.listen(128)
    return sock


def make_server(translator: Translator, settings: ServeSettings):
    import uvicorn

    return uvicorn.Server(uvicorn.Config(create_app(translator, settings), log_level="warning"))


def run_server(translator: Translator, settings: ServeSettings, host: str = "127.0.0.1", port: int = 7860,
               announce=None) -> None:
    """Serve until interrupted (Ctrl-C); `announce(url)` is called once the port is open."""
    sock = bind(host, port)
    if announce:
        announce(f"http://{host}:{port}")
    make_server(translator, settings).run(sockets=[sock])
