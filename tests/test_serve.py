"""The web app: its API through HTTP, concurrent requests, and the page end to end in headless Chromium.

The browser test needs Debian's `chromium` (`make browser` installs it). Without it the test is skipped,
unless PAIRLESS_REQUIRE_BROWSER=1 (set by .ci/run), where a missing browser fails it.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pairless
from pairless.errors import PairlessError
from pairless.serve.app import ServeSettings, bind, download_name, make_server
from pairless.train.loop import train
from tests.conftest import tiny_config, write_images

httpx = pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A CycleGAN (both directions) trained for two steps on tiny random images."""
    root = tmp_path_factory.mktemp("serve")
    for i, name in enumerate(("trainA", "trainB")):
        write_images(root / "data" / name, 3, size=(36, 36), seed=i)
    cfg = tiny_config("cyclegan", root / "data", **{"train.steps": 2, "train.save_every": 2})
    train(cfg, root / "run", quiet=True)
    return root / "run" / "latest.safetensors"


@pytest.fixture(scope="module")
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


def test_info_and_page(client):
    info = client.get("/api/info").json()
    assert info["method"] == "cyclegan" and info["step"] == 2 and info["directions"] == ["AtoB", "BtoA"]
    assert info["attention"] is False and info["max_upload_mb"] == 0.05
    page = client.get("/")
    assert page.status_code == 200 and 'id="translate"' in page.text


def test_translate_several_images_both_directions(client, translator):
    files = [("files", ("a.png", png_bytes(45, 31, 1), "image/png")),
             ("files", ("dir/b c.png", png_bytes(20, 24, 2), "image/png"))]
    reply = client.post("/api/translate", files=files, data={"direction": "BtoA"})
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [(r["name"], r["download"], r["width"], r["height"]) for r in results] == [
        ("a.png", "a_BtoA.png", 45, 31), ("dir/b c.png", "b_c_BtoA.png", 20, 24)]
    first = np.asarray(decode_data_url(results[0]["output"]), dtype=float)
    expected = np.asarray(translator.translate(Image.open(io.BytesIO(png_bytes(45, 31, 1))), "BtoA"), dtype=float)
    assert first.shape == (31, 45, 3) and np.abs(first - expected).max() <= 1


@pytest.mark.parametrize("upload,status,message", [
    (("notes.txt", b"hello, not pixels", "text/plain"), 415, "notes.txt is not an image"),
    (("huge.png", png_bytes(120, 120), "image/png"), 413, "huge.png has more than 0.01 megapixels"),
    (("big.bmp", b"BM" + bytes(60_000), "image/bmp"), 413, "the limit is 0.05 MB (pairless serve --max-upload-mb)"),
])
def test_refusals_explain_themselves(client, upload, status, message):
    reply = client.post("/api/translate", files=[("files", upload)], data={"direction": "AtoB"})
    assert reply.status_code == status and message in reply.json()["error"]


def test_bad_requests(client):
    assert "choose one or more images" in client.post("/api/translate", data={"direction": "AtoB"}).json()["error"]
    bad = client.post("/api/translate", files=[("files", ("a.png", png_bytes(8, 8), "image/png"))],
                      data={"direction": "CtoD"})
    assert bad.status_code == 400 and "translates AtoB and BtoA, not CtoD" in bad.json()["error"]
    no_attention = client.post("/api/translate", files=[("files", ("a.png", png_bytes(8, 8), "image/png"))],
                               data={"direction": "AtoB", "attention": "true"})
    assert "has no attention maps" in no_attention.json()["error"]
    too_big = client.post("/api/translate", content=b"x" * 2_000_000, headers={"content-type": "application/json"})
    assert too_big.status_code == 413 and "--max-upload-mb" in too_big.json()["error"]


def test_settings_and_names():
    with pytest.raises(PairlessError, match="--max-upload-mb must be positive"):
        ServeSettings(max_upload_mb=0)
    with pytest.raises(PairlessError, match="--overlap must be"):
        ServeSettings(tile=64, overlap=40)
    assert download_name("..\\..\\evil/../x y.JPG", "AtoB") == "x_y_AtoB.png"
    assert download_name("...", "BtoA") == "image_BtoA.png"


def test_concurrent_requests_get_their_own_results(translator, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uploads = [png_bytes(24 + 4 * i, 20 + 3 * i, seed=i) for i in range(6)]
    expected = [np.asarray(translator.translate(Image.open(io.BytesIO(data))), dtype=float) for data in uploads]

    def request(index: int) -> np.ndarray:
        files = [("files", (f"img{index}.png", uploads[index], "image/png"))]
        reply = httpx.post(f"{url}/api/translate", files=files, data={"direction": "AtoB"}, timeout=120)
        assert reply.status_code == 200, reply.text
        return np.asarray(decode_data_url(reply.json()["results"][0]["output"]), dtype=float)

    with server_thread(translator) as url, ThreadPoolExecutor(max_workers=6) as pool:
        outputs = list(pool.map(request, range(6)))
    for output, reference in zip(outputs, expected):
        assert output.shape == reference.shape and np.abs(output - reference).max() <= 1
    assert list(tmp_path.iterdir()) == []  # the server wrote nothing into its working folder


def test_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(PairlessError, match="choose another --port"):
            bind("127.0.0.1", taken.getsockname()[1])


def chromium_executable() -> str:
    """Debian's chromium (or $PAIRLESS_CHROMIUM); skip without one unless PAIRLESS_REQUIRE_BROWSER=1."""
    candidates = [os.environ.get("PAIRLESS_CHROMIUM"), "/usr/lib/chromium/chromium", shutil.which("chromium"),
                  shutil.which("chromium-browser")]
    found = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    if found:
        return found
    if os.environ.get("PAIRLESS_REQUIRE_BROWSER") == "1":
        pytest.fail("PAIRLESS_REQUIRE_BROWSER=1 but no chromium binary was found (run `make browser`)")
    pytest.skip("no chromium binary: install Debian's chromium (`make browser`) or set PAIRLESS_CHROMIUM")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_command(checkpoint: Path, cwd: Path):
    """`pairless serve` as a user runs it, in a subprocess; yields its URL once it answers."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "pairless", "serve", str(checkpoint), "--port", str(port),
                                "--device", "cpu"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            assert process.poll() is None and time.time() < deadline, process.communicate(timeout=5)
            try:
                urllib.request.urlopen(f"{url}/api/info", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_page_in_a_real_browser(checkpoint, tmp_path):
    executable = chromium_executable()
    sync_api = pytest.importorskip("playwright.sync_api")
    Image.open(io.BytesIO(png_bytes(45, 31, seed=3))).save(tmp_path / "photo.png")
    (tmp_path / "notes.txt").write_text("not an image")
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    with serve_command(checkpoint, workdir) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            page = browser.new_page(accept_downloads=True)
            page.goto(url)
            page.wait_for_selector("#direction option[value=BtoA]", state="attached")
            assert "cyclegan" in page.inner_text("#model")
            page.set_input_files("#files", str(tmp_path / "photo.png"))
            page.select_option("#direction", "BtoA")
            page.click("#translate")
            page.wait_for_function("() => { const img = document.querySelector('img.output');"
                                   " return img && img.complete && img.naturalWidth > 0; }")
            shown = page.evaluate("() => { const img = document.querySelector('img.output');"
                                  " return [img.naturalWidth, img.naturalHeight]; }")
            assert shown == [45, 31] and page.locator("img.input").count() == 1
            with page.expect_download() as download_info:
                page.click("a.download")
            download = download_info.value
            assert download.suggested_filename == "photo_BtoA.png"
            assert Image.open(download.path()).size == (45, 31)

            page.set_input_files("#files", str(tmp_path / "notes.txt"))
            page.click("#translate")
            page.wait_for_selector("#error", state="visible")
            assert "notes.txt is not an image" in page.inner_text("#error")
        finally:
            browser.close()
    assert list(workdir.iterdir()) == []


def test_attention_maps_for_models_that_have_them(tmp_path):
    """U-GAT-IT's generator exposes `translate_with_attention`; the page then offers its heat-map."""
    from pairless.models.registry import method_names
    from pairless.train.checkpoint import build_model
    from pairless.translator import Translator

    if "ugatit-light" not in method_names():
        pytest.skip("no U-GAT-IT model registered")
    cfg = tiny_config("ugatit-light", tmp_path, **{"model.width": 4, "model.n_blocks": 2, "model.mlp_grid": 8})
    translator = Translator(build_model(cfg.resolved()), cfg)
    with server_thread(translator) as url:
        assert httpx.get(f"{url}/api/info").json()["attention"] is True
        files = [("files", ("a.png", png_bytes(30, 22), "image/png"))]
        reply = httpx.post(f"{url}/api/translate", files=files, data={"direction": "AtoB", "attention": "true"},
                           timeout=120)
    assert reply.status_code == 200, reply.text
    result = reply.json()["results"][0]
    assert decode_data_url(result["attention"]).size == (30, 22) == decode_data_url(result["output"]).size


def multipart_head(name: str) -> bytes:
    return (f'--XX\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: image/png\r\n\r\n").encode()


def test_a_chunked_upload_over_the_limit_is_refused_while_it_streams(translator):
    """No Content-Length: the server must count the bytes as they come, answer 413 before the body ends,
    hold no more than the limit in memory, and go on serving."""
    settings = ServeSettings(max_upload_mb=0.05)
    chunk = b"x" * 65536
    with server_thread(translator, settings) as url:
        tracemalloc.start()
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=60) as conn:
            conn.sendall(b"POST /api/translate HTTP/1.1\r\nHost: pairless\r\nTransfer-Encoding: chunked\r\n"
                         b"Content-Type: multipart/form-data; boundary=XX\r\n\r\n")
            head = multipart_head("big.png")
            conn.sendall(b"%x\r\n%s\r\n" % (len(head), head))
            try:
                for _ in range(20 * settings.max_request_bytes // len(chunk)):  # 20 times the limit, never ended
                    conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:  # a server may also close the connection once it has answered
                pass
            reply = conn.recv(4096).decode()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert reply.startswith("HTTP/1.1 413") and "--max-upload-mb" in reply, reply
        assert peak < 3 * settings.max_request_bytes  # far below the 36 MB that were sent
        assert httpx.get(f"{url}/api/info", timeout=60).status_code == 200


def test_a_one_pixel_image_is_translated(client):
    reply = client.post("/api/translate", files=[("files", ("dot.png", png_bytes(1, 1), "image/png"))],
                        data={"direction": "AtoB"})
    assert reply.status_code == 200, reply.text
    assert decode_data_url(reply.json()["results"][0]["output"]).size == (1, 1)


def test_serve_says_nothing_about_serving_when_the_port_is_taken(checkpoint):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = subprocess.run([sys.executable, "-m", "pairless", "serve", str(checkpoint), "--port",
                                 str(taken.getsockname()[1]), "--device", "cpu"], capture_output=True, text=True,
                                timeout=300)
    assert result.returncode == 2 and "serving" not in result.stdout, result.stdout
    assert result.stderr.startswith("error: cannot listen on") and "choose another --port" in result.stderr
