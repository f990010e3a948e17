"""The web app: its API through HTTP, concurrent requests, memory, model cards, several runs, and the page
end to end in headless Chromium.

The browser tests need Debian's `chromium` (`make browser` installs it). Without it they are skipped, unless
PAIRLESS_REQUIRE_BROWSER=1 (set by .ci/run), where a missing browser fails them. Each writes a screenshot of
every state it checks into $PAIRLESS_SCREENSHOTS (default: the test's tmp_path).

README's docs/serve.png is made by `readme_screenshot` below; regenerate it with
`python -m tests.test_serve RUN [RUN ...] [--examples DIR] --out docs/serve.png`.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.request
import weakref
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

import pairless
from pairless.errors import PairlessError
from pairless.eval.evaluate import EvalSettings, evaluate_checkpoint, format_metric
from pairless.serve import uploads
from pairless.serve.app import ServeSettings, bind, create_app, make_server
from pairless.serve.card import direction_labels, find_data_folder
from pairless.serve.runs import EXAMPLES_PER_DIRECTION, load_runs
from pairless.serve.uploads import download_name
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
    assert page.status_code == 200 and 'id="files"' in page.text
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)  # nothing from the network: works offline
    assets = re.findall(r'(?:src|href)="(static/[^"]+)"', page.text)
    assert {"static/page.js", "static/page.css", "static/zip.js", "static/compare.js"} <= set(assets)
    for asset in assets:
        reply = client.get(f"/{asset}")
        assert reply.status_code == 200 and "://" not in reply.text, asset


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
    for output, reference in zip(outputs, expected, strict=True):
        assert output.shape == reference.shape and np.abs(output - reference).max() <= 1
    assert list(tmp_path.iterdir()) == []  # the server wrote nothing into its working folder


def test_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(PairlessError, match="choose another --port"):
            bind("127.0.0.1", taken.getsockname()[1])


def test_one_decoded_image_at_a_time(translator, monkeypatch):
    """Issue 25: a request's files are decoded, translated and encoded one after another, so the server never
    holds two decoded images (it used to decode them all first: 16 flat 4000x4000 PNGs, 1 MB of files, were
    3 GB of floats). Counts the decoded images alive at once through the decoder's results."""
    alive, most_alive = set(), [0]
    decode = uploads.pil_to_tensor

    def counted_decode(image):
        pixels = decode(image)
        alive.add(id(pixels))
        most_alive[0] = max(most_alive[0], len(alive))
        weakref.finalize(pixels, alive.discard, id(pixels))
        return pixels

    monkeypatch.setattr(uploads, "pil_to_tensor", counted_decode)
    files = [("files", (f"f{i}.png", png_bytes(40, 30, seed=i), "image/png")) for i in range(4)]
    with TestClient(create_app(translator, ServeSettings())) as client:
        reply = client.post("/api/translate", files=files, data={"direction": "AtoB"})
    assert reply.status_code == 200 and len(reply.json()["results"]) == 4
    assert most_alive[0] == 1 and not alive


def allocate_a_petabyte(*args, **kwargs):
    return torch.empty(2**50, dtype=torch.uint8)  # torch's own allocation failure, as a huge image gives


def raise_memory_error(*args, **kwargs):
    raise MemoryError


@pytest.mark.parametrize("target,name,failure", [
    (uploads, "pil_to_tensor", raise_memory_error),  # Pillow or the float copy while decoding
    (uploads.Translator, "translate_tensor", allocate_a_petabyte),  # the model's activations
])
def test_running_out_of_memory_is_reported_as_memory(translator, monkeypatch, target, name, failure):
    """Issue 25: memory exhaustion used to be blamed on the file ("f3.png is not an image this server can
    read"); it is a 503 that says so and names the options that help, and the server goes on serving."""
    files = [("files", ("f1.png", png_bytes(20, 20), "image/png"))]
    with TestClient(create_app(translator, ServeSettings())) as client:
        with monkeypatch.context() as patch:
            patch.setattr(target, name, failure)
            reply = client.post("/api/translate", files=files, data={"direction": "AtoB"})
        after = client.post("/api/translate", files=files, data={"direction": "AtoB"})
    message = reply.json()["error"]
    assert reply.status_code == 503 and "ran out of memory" in message and "f1.png" in message
    assert "--max-megapixels" in message and "--tile" in message and "not an image" not in message
    assert after.status_code == 200


def test_a_refusal_of_the_translator_names_the_file(translator, monkeypatch):
    """What the translator refuses before starting (its memory estimate, say) reaches the page as a refusal."""
    def refuse(*args, **kwargs):
        raise PairlessError("needs about 40 GB of memory, more than the 8 GB available: translate in tiles (--tile)")

    monkeypatch.setattr(translator, "translate_tensor", refuse)
    with TestClient(create_app(translator, ServeSettings())) as client:
        reply = client.post("/api/translate", files=[("files", ("huge.png", png_bytes(20, 20), "image/png"))],
                            data={"direction": "AtoB"})
    assert reply.status_code == 413 and reply.json()["error"].startswith("huge.png: needs about 40 GB of memory")


def test_model_card_examples_and_scores_of_a_run_folder(zebra_run):
    (run,) = load_runs([zebra_run], "cpu", ServeSettings())
    card = run.public()
    assert (card["name"], card["method"], card["step"], card["crop_size"]) == ("h2z", "cut", 2, 32)
    assert card["dataset"] == "horse2zebra" and card["direction_labels"] == {"AtoB": "horse → zebra"}
    assert [(t["domain"], t["folder"], t["count"]) for t in card["training_images"]] == [
        ("horse", "trainA", 3), ("zebra", "trainB", 3)]
    data = zebra_run.parent / "horse2zebra"
    assert card["examples"] == {"AtoB": sorted(p.name for p in (data / "testA").iterdir())}
    assert find_data_folder("horse2zebra", zebra_run).resolve() == data.resolve()  # a relative --data, elsewhere
    assert find_data_folder("zebra2horse", zebra_run) is None
    evaluated, during_training = card["scores"]
    written = json.loads((zebra_run / "eval" / "latest_test_AtoB" / "eval.json").read_text())["metrics"]
    assert evaluated["source"] == "pairless evaluate (latest_test_AtoB)" and evaluated["step"] == 2
    assert ["FID-local ↓", format_metric("fid_local", written["fid_local"])] in evaluated["rows"]
    logged = [json.loads(line) for line in (zebra_run / "metrics.jsonl").read_text().splitlines()]
    last_eval = [record for record in logged if "eval" in record][-1]
    assert during_training["step"] == last_eval["step"] == 2
    assert ["domain score ↑", format_metric("domain_score", last_eval["eval"]["domain_score"])] in \
        during_training["rows"]


def test_an_example_is_translated_like_the_same_file_uploaded(zebra_run):
    (run,) = load_runs([zebra_run], "cpu", ServeSettings())
    path = run.examples["AtoB"][1]
    with TestClient(create_app([run], ServeSettings())) as client:
        shown = client.get("/api/example", params={"run": "h2z", "direction": "AtoB", "index": 1})
        by_example = client.post("/api/translate", data={"run": "h2z", "direction": "AtoB", "example": "1"})
        by_upload = client.post("/api/translate", files=[("files", (path.name, path.read_bytes(), "image/png"))],
                                data={"run": "h2z", "direction": "AtoB"})
        missing = client.get("/api/example", params={"run": "h2z", "direction": "AtoB", "index": 7})
    assert shown.headers["content-type"] == "image/png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(shown.content))), np.asarray(Image.open(path)))
    (result,) = by_example.json()["results"]
    assert result["name"] == path.name and result["output"] == by_upload.json()["results"][0]["output"]
    assert missing.status_code == 404 and "no example 7" in missing.json()["error"]


def test_direction_names_from_the_data_folder(tmp_path):
    def labels(root: Path, **overrides) -> dict[str, str]:
        cfg = tiny_config("cyclegan", root, **overrides)
        return direction_labels(cfg, ("AtoB", "BtoA"), find_data_folder(cfg.data.root, None))

    assert labels(tmp_path / "summer2winter_yosemite") == {"AtoB": "summer → winter_yosemite",
                                                           "BtoA": "winter_yosemite → summer"}
    assert labels(tmp_path / "apple2orange", **{"data.direction": "BtoA"})["AtoB"] == "orange → apple"
    assert labels(tmp_path / "facades") == {"AtoB": "A → B", "BtoA": "B → A"}
    for name in ("photos", "paintings"):
        (tmp_path / name).mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "trainA").symlink_to(tmp_path / "photos")
    (tmp_path / "data" / "trainB").symlink_to(tmp_path / "paintings")
    assert labels(tmp_path / "data")["AtoB"] == "photos → paintings"


def test_examples_folder_offers_images_within_the_limits(checkpoint, tmp_path):
    folder = tmp_path / "examples"
    write_images(folder, EXAMPLES_PER_DIRECTION + 2, size=(20, 20))
    Image.new("RGB", (200, 200)).save(folder / "000_too_many_pixels.png")
    (run,) = load_runs([checkpoint], "cpu", ServeSettings(max_megapixels=0.01), folder)
    offered = run.public()["examples"]
    assert offered["AtoB"] == offered["BtoA"] == [f"img{i:03d}.png" for i in range(EXAMPLES_PER_DIRECTION)]
    with pytest.raises(PairlessError, match="--examples .*: folder not found"):
        load_runs([checkpoint], "cpu", ServeSettings(), tmp_path / "missing")


def test_several_runs_in_one_server(checkpoint, zebra_run):
    runs = load_runs([zebra_run, checkpoint, checkpoint], "cpu", ServeSettings())
    assert [run.name for run in runs] == ["h2z", "run", "run (2)"]
    image = [("files", ("a.png", png_bytes(24, 20), "image/png"))]
    with TestClient(create_app(runs, ServeSettings(max_files=3))) as client:
        listed = client.get("/api/runs").json()
        assert [(r["name"], r["method"], r["directions"]) for r in listed["runs"]] == [
            ("h2z", "cut", ["AtoB"]), ("run", "cyclegan", ["AtoB", "BtoA"]), ("run (2)", "cyclegan", ["AtoB", "BtoA"])]
        assert listed["limits"]["max_files"] == 3 and client.get("/api/info").json()["name"] == "h2z"
        assert client.get("/api/info", params={"run": "run"}).json()["method"] == "cyclegan"
        refused = client.post("/api/translate", files=image, data={"run": "h2z", "direction": "BtoA"})
        chosen = client.post("/api/translate", files=image, data={"run": "run", "direction": "BtoA"})
        unknown = client.post("/api/translate", files=image, data={"run": "h3z", "direction": "AtoB"})
    assert refused.status_code == 400 and "translates AtoB, not BtoA" in refused.json()["error"]
    assert chosen.status_code == 200 and chosen.json()["run"] == "run"
    assert unknown.status_code == 404 and "served: h2z, run, run (2)" in unknown.json()["error"]


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


def test_attention_maps_for_models_that_have_them(tmp_path):
    """U-GAT-IT's generator exposes `translate_with_attention`; the page then offers its heat-map."""
    from pairless.checkpoint import build_model
    from pairless.models.registry import method_names
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


@contextmanager
def serve_command(runs: list[Path], cwd: Path, *options: str):
    """`pairless serve RUN...` as a user runs it, in a subprocess; yields its URL once it answers."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "pairless", "serve", *map(str, runs), "--port", str(port),
                                "--device", "cpu", *options], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
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


@pytest.fixture(scope="module")
def browser():
    executable = chromium_executable()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def served_page(zebra_run, checkpoint, tmp_path_factory):
    """Two runs behind one real `pairless serve`, small limits and tiles: the page the browser tests drive."""
    workdir = tmp_path_factory.mktemp("cwd")
    with serve_command([zebra_run, checkpoint.parent], workdir, "--max-upload-mb", "0.05", "--tile", "32",
                       "--overlap", "8") as url:
        yield url
    assert list(workdir.iterdir()) == []  # the server wrote nothing into its working folder


def open_page(browser, url: str, width: int = 1280, height: int = 900):
    page = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True).new_page()
    page.goto(url)
    page.wait_for_selector("#direction option", state="attached")
    return page


@pytest.fixture
def page(browser, served_page):
    opened = open_page(browser, served_page)
    yield opened
    opened.context.close()


@pytest.fixture
def snap(request, tmp_path):
    """snap(page, state) writes a screenshot of the page as <test>-<state>.png into $PAIRLESS_SCREENSHOTS (or the
    test's tmp_path), so that CI can keep what each browser test saw."""
    folder = Path(os.environ.get("PAIRLESS_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, state: str) -> Path:
        path = folder / f"{request.node.name}-{state}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def file_transfer(page, files: list[tuple[str, bytes, str]]):
    """A DataTransfer holding (name, content, type) files, as a drop or a paste carries them."""
    encoded = [[name, base64.b64encode(data).decode(), kind] for name, data, kind in files]
    return page.evaluate_handle("""(files) => {
        const transfer = new DataTransfer();
        for (const [name, data, type] of files) {
          transfer.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name, { type }));
        }
        return transfer;
      }""", encoded)


def drop(page, *files: tuple[str, bytes], on: str = "#card"):
    """Drag files over the page and drop them on `on` (any element: the whole page takes drops)."""
    transfer = file_transfer(page, [(name, data, "image/png") for name, data in files])
    page.dispatch_event("body", "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(on, "drop", {"dataTransfer": transfer})


def paste(page, name: str, data: bytes):
    transfer = file_transfer(page, [(name, data, "image/png")])
    page.evaluate("(transfer) => document.dispatchEvent(new ClipboardEvent('paste', "
                  "{ clipboardData: transfer, bubbles: true, cancelable: true }))", transfer)


def result(page, name: str, state: str = "done"):
    """The (first) result card of `name` once it is in `state` (done, failed)."""
    card = page.locator(f"article.result.{state}", has=page.locator("h3", has_text=re.compile(f"^{re.escape(name)}$")))
    card.first.wait_for(timeout=60_000)
    return card.first


def output_size(card) -> list[int]:
    return card.locator("img.output").evaluate("img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])")


def test_page_shows_the_model_card_limits_and_examples(page, snap):
    assert page.inner_text("#card-title") == "cut · horse2zebra"
    facts = page.inner_text("#facts")
    assert "2 steps on 32-px crops" in facts and "3 horse (trainA), 3 zebra (trainB)" in facts
    assert "horse → zebra (AtoB)" in facts
    scores = page.inner_text("#scores")
    assert "pairless evaluate (latest_test_AtoB): step 2, AtoB, test split" in scores and "FID-local" in scores
    assert "--eval-every, while training: step 2" in scores
    assert page.inner_text("#limits") == ("Up to 16 images at a time, each at most 0.05 MB and 16 megapixels; "
                                          "images larger than 32 px go through the model in tiles.")
    assert page.locator("#examples button").count() == 3 and page.inner_text("#examples-from") == \
        "from testA of horse2zebra"
    assert page.is_visible("#run-menu") and page.locator("#run option").all_inner_texts() == [
        "h2z: cut, step 2", "run: cyclegan, step 2"]
    snap(page, "start")


def test_drop_images_anywhere_on_the_page(page, snap):
    transfer = file_transfer(page, [("a.png", png_bytes(45, 31, 1), "image/png"),
                                    ("b.png", png_bytes(20, 24, 2), "image/png")])
    page.dispatch_event("body", "dragenter", {"dataTransfer": transfer})
    assert page.is_visible("#drop-overlay")
    snap(page, "dragging")
    page.dispatch_event("#card", "drop", {"dataTransfer": transfer})
    first, second = result(page, "a.png"), result(page, "b.png")
    assert not page.is_visible("#drop-overlay")
    assert output_size(first) == [45, 31] and output_size(second) == [20, 24]
    assert "Done: 45×31" in first.inner_text() and page.inner_text("#overall") == "2 translated"
    assert first.locator("a.download").get_attribute("download") == "a_AtoB.png"
    snap(page, "dropped")


def test_paste_an_image(page, snap):
    paste(page, "clipboard.png", png_bytes(30, 26, 5))
    card = result(page, "clipboard.png")
    assert output_size(card) == [30, 26] and "h2z · horse → zebra" in card.inner_text()
    snap(page, "pasted")


def test_click_an_example(page, snap):
    page.locator("#examples button").first.click()
    card = result(page, "img000.png")
    assert output_size(card) == [36, 36]
    assert "api/example" in card.locator("img.input").get_attribute("src")
    snap(page, "example")


def test_progress_while_the_server_works(browser, translator, snap, monkeypatch):
    """The server is held inside the translation (as a large tiled image holds it) while the page is looked at."""
    release = threading.Event()
    translate = translator.translate_tensor

    def held_translate(*args, **kwargs):
        assert release.wait(timeout=60)
        return translate(*args, **kwargs)

    monkeypatch.setattr(translator, "translate_tensor", held_translate)
    with server_thread(translator, ServeSettings(tile=32, overlap=8)) as url:
        page = open_page(browser, url)
        try:
            page.evaluate("""() => { window.shown = []; new MutationObserver(() => {
                for (const s of document.querySelectorAll('.result .status')) window.shown.push(s.textContent);
              }).observe(document.body, { subtree: true, childList: true, characterData: true }); }""")
            drop(page, ("wide.png", png_bytes(45, 31, 3)), ("next.png", png_bytes(20, 20, 4)))
            card, waiting = page.locator("article.result").first, page.locator("article.result").nth(1)
            card.locator(".status", has_text="Translating on the server (45×31, in 32-px tiles)…").wait_for()
            assert card.locator("progress").is_visible() and page.inner_text("#overall") == "Working: 0 of 2 done"
            assert waiting.locator(".status").inner_text() == "Waiting for its turn…"
            snap(page, "working")
            release.set()
            result(page, "next.png")
            assert any(text.startswith("Uploading… ") for text in page.evaluate("window.shown"))
            assert not page.is_visible("#overall-progress") and page.inner_text("#overall") == "2 translated"
        finally:
            release.set()
            page.context.close()


def side_shown_at(card, fraction: float) -> str:
    """Which image the compare view shows at `fraction` of its width: 'input' or 'output'."""
    return card.locator(".frame").evaluate("""(frame, fraction) => {
        const box = frame.getBoundingClientRect();
        const hit = document.elementFromPoint(box.left + fraction * box.width, box.top + box.height / 2);
        return hit.classList.contains("input") ? "input" : hit.classList.contains("output") ? "output" : hit.tagName;
      }""", fraction)


def test_compare_slider_and_side_by_side(page, snap):
    page.locator("#examples button").nth(1).click()
    card = result(page, "img001.png")
    card.scroll_into_view_if_needed()
    assert (side_shown_at(card, 0.25), side_shown_at(card, 0.75)) == ("input", "output")
    card.locator("input.split").focus()
    page.keyboard.press("End")
    assert side_shown_at(card, 0.9) == "input"
    page.keyboard.press("Home")
    assert side_shown_at(card, 0.1) == "output"
    snap(page, "slider-home")
    frame = card.locator(".frame").bounding_box()
    page.mouse.move(frame["x"] + 0.2 * frame["width"], frame["y"] + frame["height"] / 2)
    page.mouse.down()
    page.mouse.move(frame["x"] + 0.6 * frame["width"], frame["y"] + frame["height"] / 2, steps=5)
    page.mouse.up()
    assert abs(int(card.locator("input.split").input_value()) - 60) <= 1
    assert (side_shown_at(card, 0.5), side_shown_at(card, 0.7)) == ("input", "output")
    snap(page, "slider-dragged")
    card.get_by_role("button", name="Side by side").click()
    assert card.get_by_role("button", name="Side by side").get_attribute("aria-pressed") == "true"
    before, after = card.locator("figure.before").bounding_box(), card.locator("figure.after").bounding_box()
    assert before["x"] + before["width"] <= after["x"] and not card.locator("input.split").is_visible()
    snap(page, "side-by-side")


def test_download_one_and_all(page, snap):
    drop(page, ("a.png", png_bytes(45, 31, 1)), ("b.png", png_bytes(20, 24, 2)))
    paste(page, "a.png", png_bytes(16, 12, 4))
    page.locator("article.result.done").nth(2).wait_for()
    first = result(page, "a.png")
    with page.expect_download() as one:
        first.locator("a.download").click()
    assert one.value.suggested_filename == "a_AtoB.png"
    with page.expect_download() as everything:
        page.click("#download-all")
    assert everything.value.suggested_filename == "pairless-results.zip"
    with zipfile.ZipFile(everything.value.path()) as archive:
        assert archive.testzip() is None  # every CRC matches
        assert archive.namelist() == ["a_AtoB.png", "b_AtoB.png", "a_AtoB-2.png"]
        sizes = [Image.open(io.BytesIO(archive.read(name))).size for name in archive.namelist()]
        assert archive.read("a_AtoB.png") == Path(one.value.path()).read_bytes()
    assert sizes == [(45, 31), (20, 24), (16, 12)]
    snap(page, "downloaded")


def test_switch_between_two_runs(page, snap):
    page.select_option("#run", "run")
    assert page.inner_text("#card-title") == "cyclegan · data" and page.inner_text("#model") == "cyclegan, step 2"
    assert page.locator("#direction option").all_inner_texts() == ["A → B (AtoB)", "B → A (BtoA)"]
    assert not page.is_visible("#examples-section")  # this run's data folder has no test split
    page.select_option("#direction", "BtoA")
    drop(page, ("c.png", png_bytes(22, 18, 6)))
    assert "run · B → A" in result(page, "c.png").inner_text()
    snap(page, "second-run")
    page.select_option("#run", "h2z")
    assert page.inner_text("#card-title") == "cut · horse2zebra"
    assert page.locator("#direction option").all_inner_texts() == ["horse → zebra (AtoB)"]
    assert page.is_visible("#examples-section") and "run · B → A" in result(page, "c.png").inner_text()
    snap(page, "back-to-first-run")


def test_oversized_and_unreadable_uploads_are_explained(page, snap):
    sent = []
    page.on("request", lambda request: sent.append(request.url) if "api/translate" in request.url else None)
    big = png_bytes(200, 200, 7)
    drop(page, ("big.png", big))
    message = result(page, "big.png", "failed").locator(".status").inner_text()
    assert message == (f"big.png is {float(f'{len(big) / 1e6:.2g}'):g} MB; this server takes images up to "
                       "0.05 MB (pairless serve --max-upload-mb).")
    assert sent == []  # refused before uploading
    transfer = file_transfer(page, [("notes.txt", b"not an image", "text/plain")])
    page.dispatch_event("body", "drop", {"dataTransfer": transfer})
    refused = result(page, "notes.txt", "failed").locator(".status").inner_text()
    assert refused.startswith("Refused: notes.txt is not an image this server can read") and len(sent) == 1
    snap(page, "refused")


def test_phone_sized_window_and_keyboard(browser, served_page, snap, tmp_path):
    phone = open_page(browser, served_page, 390, 844)
    phone.on("filechooser", lambda _: None)  # file chooser interception on from here: turned on later, it races
    try:
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen
        assert phone.locator("#card").bounding_box()["y"] > phone.locator(".dropzone").bounding_box()["y"]
        for _ in range(12):  # Tab from the top reaches the first example; focus is visible
            phone.keyboard.press("Tab")
            if phone.evaluate("document.activeElement.classList.contains('example')"):
                break
        outline = phone.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert phone.evaluate("document.activeElement.classList.contains('example')") and outline != "none"
        snap(phone, "focus")
        phone.keyboard.press("Enter")
        card = result(phone, "img000.png")
        card.get_by_role("button", name="Side by side").focus()
        phone.keyboard.press(" ")
        assert card.get_by_role("button", name="Side by side").get_attribute("aria-pressed") == "true"
        Image.open(io.BytesIO(png_bytes(24, 24, 8))).save(tmp_path / "picked.png")
        phone.focus("#choose")
        with phone.expect_file_chooser() as chooser:
            phone.keyboard.press("Enter")
        chooser.value.set_files(str(tmp_path / "picked.png"))
        assert output_size(result(phone, "picked.png")) == [24, 24]
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        snap(phone, "phone")
    finally:
        phone.context.close()


def test_attention_overlay_in_the_browser(browser, snap, tmp_path):
    from pairless.checkpoint import build_model
    from pairless.models.registry import method_names
    from pairless.translator import Translator

    if "ugatit-light" not in method_names():
        pytest.skip("no U-GAT-IT model registered")
    cfg = tiny_config("ugatit-light", tmp_path, **{"model.width": 4, "model.n_blocks": 2, "model.mlp_grid": 8})
    with server_thread(Translator(build_model(cfg.resolved()), cfg)) as url:
        page = open_page(browser, url)
        try:
            assert page.is_visible("#attention-option") and "Attention maps" in page.inner_text("#facts")
            page.check("#attention")
            drop(page, ("face.png", png_bytes(30, 22, 9)))
            card = result(page, "face.png")
            card.get_by_label("attention map over the input").check()
            before = card.locator("figure.before")
            assert before.locator("img").get_attribute("src").startswith("data:image/png;base64,")
            assert before.locator("figcaption").inner_text() == "before + attention"
            snap(page, "attention")
        finally:
            page.context.close()


README_PNG_BYTES = 150_000


def small_png(image: Image.Image, out: Path) -> None:
    """`image` as a palette PNG with as many colours (up to 256) as keep it under README_PNG_BYTES."""
    for colours in (256, 192, 128, 96, 80, 64, 48, 32):
        buffer = io.BytesIO()
        image.quantize(colours).save(buffer, format="PNG", optimize=True)
        if buffer.tell() < README_PNG_BYTES:
            break
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())


def readme_screenshot(browser, url: str, out: Path, examples: int = 2) -> Path:
    """README's picture of the page (docs/serve.png): 1280x900, the first `examples` examples translated and
    the first compare slider at 60 %, stored small (small_png)."""
    page = open_page(browser, url)
    try:
        buttons = page.locator("#examples button")
        for index in range(min(examples, buttons.count())):
            buttons.nth(index).click()
            page.locator("article.result.done").nth(index).wait_for(timeout=300_000)
        page.locator("input.split").first.fill("60")
        page.mouse.move(0, 0)
        page.evaluate("window.scrollTo(0, 0)")
        shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    finally:
        page.context.close()
    small_png(shot, out)
    return out


def test_readme_screenshot(browser, served_page, tmp_path):
    folder = Path(os.environ.get("PAIRLESS_SCREENSHOTS") or tmp_path)
    path = readme_screenshot(browser, served_page, folder / "readme-serve.png")
    assert Image.open(path).size == (1280, 900) and path.stat().st_size < README_PNG_BYTES


def main() -> None:
    """`python -m tests.test_serve RUN... --out docs/serve.png`: README's screenshot with real runs."""
    import tempfile

    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--examples", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/serve.png"))
    args = parser.parse_args()
    options = ["--examples", str(args.examples.resolve())] if args.examples else []
    with tempfile.TemporaryDirectory() as cwd, serve_command([r.resolve() for r in args.runs], Path(cwd),
                                                             *options) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), headless=True)
        print(readme_screenshot(browser, url, args.out))
        browser.close()


if __name__ == "__main__":
    main()


def test_malformed_requests_get_the_apps_error_form(client):
    """FastAPI's own validation answers {"detail": [...]}; the app answers {"error": "..."} like its others."""
    reply = client.get("/api/example", params={"index": "first"})
    assert reply.status_code == 422 and set(reply.json()) == {"error"} and "index" in reply.json()["error"]


@pytest.mark.parametrize("port", [-1, 70000])
def test_a_port_out_of_range_is_a_one_line_error(checkpoint, port):
    done = subprocess.run([sys.executable, "-m", "pairless", "serve", str(checkpoint), "--port", str(port)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == f"error: --port must be in [0, 65535] (0: any free port), " \
                                                          f"got {port}"
