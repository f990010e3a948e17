"""The web app through HTTP: translating, refusals, concurrent requests, memory, model cards, several runs,
attention maps, streamed uploads and the `serve` command's errors."""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
import tracemalloc
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from pairless.errors import PairlessError
from pairless.eval.evaluate import format_metric
from pairless.serve import uploads
from pairless.serve.app import ServeSettings, bind, create_app
from pairless.serve.card import direction_labels, find_data_folder
from pairless.serve.runs import EXAMPLES_PER_DIRECTION, load_runs
from pairless.serve.uploads import download_name
from tests.conftest import tiny_config, write_images
from tests.serve.conftest import decode_data_url, png_bytes, server_thread

httpx = pytest.importorskip("httpx")


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
