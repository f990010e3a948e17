"""What `pairless serve` accepts: its settings, the refusals the page explains, and the request size limit.

The request size limit holds for any transfer encoding: bodies are counted while they stream in, and reading
stops at the limit (chunked uploads carry no Content-Length).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pairless.fields import Checked, bounded

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

    def shown(self) -> dict:
        """The limits as the page shows them before an upload."""
        return {"max_upload_mb": self.max_upload_mb, "max_megapixels": self.max_megapixels,
                "max_files": self.max_files, "tile": self.tile}


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
