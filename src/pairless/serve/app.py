"""The web app behind `pairless serve`: one or more loaded runs, a static page and a small JSON API.

- `GET /` the page (static/index.html with static/page.css and page.js, no external assets: it works offline);
  `GET /api/runs` every served run's card, directions and examples, and the limits;
  `GET /api/info?run=NAME` one run's (the first's without `run`);
  `GET /api/example?run=&direction=&index=` an example input as PNG;
  `POST /api/translate` (multipart: `files` or `example` (an index), `run`, `direction`, `attention`) the
  translations as PNG data URLs.
- Each model is loaded once. One lock lets one image at a time be decoded, translated and encoded, whatever
  the requests and runs (see uploads.py): memory holds one decoded image, and everything a request needs
  lives in its own local variables, so concurrent requests never see each other's images.
- Uploads are refused with a message the page shows: non-images, files over the size limit, images over the
  pixel limit, too many files (limits.py); running out of memory is answered 503. The app writes no files:
  uploads are decoded in memory (while parsing, Starlette spools request bodies over 1 MB to the system temp
  folder) and results go back in the reply.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Sequence
from functools import partial
from importlib import resources

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from pairless.errors import PairlessError
from pairless.serve.limits import RequestSizeLimit, ServeSettings, UploadRefused
from pairless.serve.runs import ServedRun, served_run
from pairless.serve.uploads import decode_upload, png_bytes, translate_file
from pairless.translator import Translator

Source = tuple[str, Callable[[], bytes]]
"""An image to translate: its name and how to read its bytes (read only when its turn comes)."""


def served_runs(served: Translator | Sequence[ServedRun], settings: ServeSettings) -> list[ServedRun]:
    """The runs to serve; a bare Translator is one run named after its method, its card from its config."""
    if isinstance(served, Translator):
        return [served_run(served, served.config.method, None, settings)]
    if not served:
        raise ValueError("serve at least one run")
    return list(served)


def run_named(runs: dict[str, ServedRun], name: str | None) -> ServedRun:
    """The run the page chose by name; the first one when it names none."""
    if not name:
        return next(iter(runs.values()))
    if name not in runs:
        raise UploadRefused(f"no run named {name} is served here (served: {', '.join(runs)})", 404)
    return runs[name]


def check_request(run: ServedRun, count: int, direction: str, attention: bool, settings: ServeSettings) -> None:
    if not count:
        raise UploadRefused("choose one or more images first")
    if count > settings.max_files:
        raise UploadRefused(f"{count} files; at most {settings.max_files} per request", 413)
    translator = run.translator
    if direction not in translator.directions:
        raise UploadRefused(f"this model translates {' and '.join(translator.directions)}, not {direction}")
    if attention and not translator.model.has_attention_maps:
        raise UploadRefused(f"the {translator.config.method} model has no attention maps")


def sources(run: ServedRun, files: list[UploadFile], example: int | None, direction: str,
            settings: ServeSettings) -> list[Source]:
    """The uploads, or the run's example number `example` for `direction`."""
    if example is not None:
        path = run.example(direction, example)
        return [(path.name, path.read_bytes)]
    return [(upload.filename or f"image{i + 1}", partial(upload.file.read, settings.max_upload_bytes + 1))
            for i, upload in enumerate(files)]


def create_app(served: Translator | Sequence[ServedRun], settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    runs = served_runs(served, settings)
    find_run = partial(run_named, {run.name: run for run in runs})
    one_image_at_a_time = threading.Lock()
    page = resources.files("pairless.serve").joinpath("static", "index.html").read_text(encoding="utf-8")
    app = FastAPI(title="pairless", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(UploadRefused)
    def refused(request: Request, exc: UploadRefused) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's own 422 answers ({"detail": [...]}) in the app's form: one `error` line."""
        problems = "; ".join(f"{' '.join(map(str, problem.get('loc', ())))}: {problem.get('msg', '')}"
                             for problem in exc.errors())
        return JSONResponse({"error": f"malformed request ({problems})"}, status_code=422)

    app.add_middleware(RequestSizeLimit, settings=settings)
    app.mount("/static", StaticFiles(packages=[("pairless.serve", "static")]), name="static")

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/api/runs")
    def all_runs() -> dict:
        return {"runs": [run.public() for run in runs], "limits": settings.shown()}

    @app.get("/api/info")
    def info(run: str | None = None) -> dict:
        return {**find_run(run).public(), **settings.shown()}

    @app.get("/api/example")
    def example(run: str | None = None, direction: str = "AtoB", index: int = 0) -> Response:
        path = find_run(run).example(direction, index)
        with one_image_at_a_time:  # decoded like an upload: one image in memory at a time
            return Response(png_bytes(decode_upload(path.name, path.read_bytes(), settings)), media_type="image/png")

    @app.post("/api/translate")
    def translate(files: list[UploadFile] = File(default=[]), direction: str = Form("AtoB"),
                  attention: bool = Form(False), run: str | None = Form(None),
                  example: int | None = Form(None)) -> dict:
        chosen = find_run(run)
        check_request(chosen, 1 if example is not None else len(files), direction, attention, settings)
        results = []
        for name, read in sources(chosen, files, example, direction, settings):
            with one_image_at_a_time:
                results.append(translate_file(chosen.translator, name, read(), direction, attention, settings))
        return {"run": chosen.name, "direction": direction, "results": results}

    return app


PORTS = range(0, 65536)


def check_port(port: int) -> None:
    if port not in PORTS:
        raise PairlessError(f"--port must be in [0, 65535] (0: any free port), got {port}")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or an error naming the option to change."""
    check_port(port)
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


def make_server(served: Translator | Sequence[ServedRun], settings: ServeSettings):
    import uvicorn

    return uvicorn.Server(uvicorn.Config(create_app(served, settings), log_level="warning"))


def run_server(served: Translator | Sequence[ServedRun], settings: ServeSettings, host: str = "127.0.0.1",
               port: int = 7860, announce=None) -> None:
    """Serve until interrupted (Ctrl-C); `announce(url)` is called once the port is open."""
    sock = bind(host, port)
    if announce:
        shown_host = f"[{host}]" if ":" in host else host
        announce(f"http://{shown_host}:{sock.getsockname()[1]}")  # the port the system chose for --port 0
    make_server(served, settings).run(sockets=[sock])
