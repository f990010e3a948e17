"""The web app's fixtures and helpers: two tiny runs (a CycleGAN checkpoint, an evaluated CUT run on a
folder named horse2zebra), the app in a background thread, image bytes and data URLs."""

from __future__ import annotations

import base64
import io
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pairless
from pairless.eval.evaluate import EvalSettings, evaluate_checkpoint
from pairless.serve.app import ServeSettings, bind, make_server
from pairless.train.loop import train
from tests.conftest import tiny_config, write_images

httpx = pytest.importorskip("httpx")


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A CycleGAN (both directions) trained for two steps on tiny random images."""
    root = tmp_path_factory.mktemp("serve")
    for i, name in enumerate(("trainA", "trainB")):
        write_images(root / "data" / name, 3, size=(36, 36), seed=i)
    cfg = tiny_config("cyclegan", root / "data", **{"train.steps": 2, "train.save_every": 2})
    train(cfg, root / "run", quiet=True)
    return root / "run" / "latest.safetensors"


@pytest.fixture(scope="session")
def zebra_run(tmp_path_factory) -> Path:
    """A CUT run (AtoB only) on a data folder named horse2zebra with a test split, evaluated twice: by
    --eval-every while training and by `pairless evaluate` afterwards."""
    root = tmp_path_factory.mktemp("zebra")
    for i, name in enumerate(("trainA", "trainB", "testA", "testB")):
        write_images(root / "horse2zebra" / name, 3, size=(36, 36), seed=10 + i)
    cfg = tiny_config("cut", root / "horse2zebra", **{"train.steps": 2, "train.save_every": 2,
                                                      "train.eval_every": 2, "train.eval_images": 2})
    train(cfg, root / "h2z", quiet=True)
    settings = EvalSettings("test", "AtoB", "local", None, 32, 2, None)
    evaluate_checkpoint(root / "h2z", root / "horse2zebra", root / "h2z" / "eval" / "latest_test_AtoB", settings,
                        "cpu", log=lambda *_: None)
    return root / "h2z"


@pytest.fixture(scope="session")
def translator(checkpoint):
    return pairless.load(checkpoint, device="cpu")


def png_bytes(width: int, height: int, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_data_url(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


@contextmanager
def server_thread(translator, settings=None):
    """The app under uvicorn in a background thread on a free port; yields its base URL."""
    sock = bind("127.0.0.1", 0)
    server = make_server(translator, settings or ServeSettings())
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def client(translator):
    with server_thread(translator, ServeSettings(max_upload_mb=0.05, max_megapixels=0.01)) as url:
        with httpx.Client(base_url=url, timeout=120) as client:
            yield client
