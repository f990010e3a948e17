"""An imported run is a run: translate a folder, export ONNX, serve an image, evaluate, and start a new
training run from it with `train --init`."""

import io
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import pairless
from pairless.checkpoint import build_model, load_initial_weights, read_checkpoint, read_weights
from pairless.config import RunConfig
from pairless.data.synthetic import make_synthetic_dataset
from pairless.errors import PairlessError
from pairless.eval.evaluate import EvalSettings, evaluate_checkpoint
from pairless.export import export_model
from pairless.interop import import_checkpoints
from pairless.serve.app import ServeSettings, create_app
from pairless.train.loop import train
from tests.conftest import write_images

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def imported(reference_checkpoints, tmp_path_factory):
    """The CUT fixture (G, F, D) imported through the command line."""
    out = tmp_path_factory.mktemp("imported") / "cut"
    result = subprocess.run([sys.executable, "-m", "pairless", "import", str(reference_checkpoints / "cut"),
                             "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "imported cut as pairless cut" in result.stdout and "next: pairless translate" in result.stdout
    return out


@pytest.fixture(scope="module")
def hue(tmp_path_factory):
    return make_synthetic_dataset("hue", tmp_path_factory.mktemp("data") / "hue", count=6, test_count=4, size=32)


def test_translate_a_folder(imported, tmp_path):
    write_images(tmp_path / "photos" / "nested", 2, size=(45, 30))
    result = subprocess.run([sys.executable, "-m", "pairless", "translate", str(imported), str(tmp_path / "photos"),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    outputs = sorted((tmp_path / "out").rglob("*.png"))
    assert [p.relative_to(tmp_path / "out").as_posix() for p in outputs] == ["nested/img000.png", "nested/img001.png"]
    translator = pairless.load(imported, device="cpu")
    expected = np.asarray(translator.translate(Image.open(tmp_path / "photos" / "nested" / "img000.png")), dtype=int)
    assert np.abs(np.asarray(Image.open(outputs[0]), dtype=int) - expected).max() <= 1


def test_onnx_export_equals_the_imported_model(imported, tmp_path):
    path = export_model(imported, tmp_path / "cut.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = torch.rand(2, 3, 48, 36)
    (out,) = session.run(None, {"image": images.numpy()})
    expected = pairless.load(imported, device="cpu").translate_tensor(images)
    assert np.abs(out - expected.numpy()).max() < 1e-4


def test_serve_translates_an_upload(imported):
    from fastapi.testclient import TestClient

    translator = pairless.load(imported, device="cpu")
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 28, 3), dtype=np.uint8)).save(buffer, "PNG")
    with TestClient(create_app(translator, ServeSettings())) as client:
        info = client.get("/api/info").json()
        assert info["method"] == "cut" and info["directions"] == ["AtoB"]
        reply = client.post("/api/translate", files=[("files", ("a.png", buffer.getvalue(), "image/png"))],
                            data={"direction": "AtoB"})
    assert reply.status_code == 200, reply.text
    assert [(r["width"], r["height"]) for r in reply.json()["results"]] == [(28, 20)]


def test_evaluate_on_a_small_data_set(imported, hue, tmp_path):
    settings = EvalSettings("test", "AtoB", "local", None, 32, 4, None)
    result = evaluate_checkpoint(imported, hue, tmp_path / "eval", settings, "cpu")
    assert result["method"] == "cut" and result["translated_images"] == 4
    assert math.isfinite(result["metrics"]["fid_local"]) and result["metrics"]["l1"] > 0


def test_init_into_networks_of_another_width_names_the_first_misfit(imported, hue, tmp_path):
    start = read_checkpoint(imported).config
    cfg, _ = RunConfig.for_run(None, None, None, None, tmp_path / "ft", start)
    wider = build_model(cfg.override({"data.root": str(hue), "model.width": 2 * start.model.width}))
    with pytest.raises(PairlessError, match=r"--init .*must keep the source's \(size mismatch for [\w.]+\.weight: "
                                            r"copying a param with shape torch.Size\(\[\d+, \d+\]\) from checkpoint"):
        load_initial_weights(wider, imported)


def test_train_init_starts_from_the_imported_networks(imported, hue, tmp_path):
    """The weights the loop loads give the imported model's translation before any step; two steps then train
    from them (G, F and D all came from the files)."""
    start = read_checkpoint(imported).config
    cfg, _ = RunConfig.for_run(None, None, None, None, tmp_path / "ft", start)
    cfg = cfg.override({"data.root": str(hue), "data.size": 32, "data.workers": 0, "train.steps": 2,
                        "train.device": "cpu", "train.init_from": str(imported)})
    model = build_model(cfg).eval()
    assert set(load_initial_weights(model, imported)) == {"G", "F", "D"}
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.translate(x), pairless.load(imported, device="cpu").model.translate(x))

    result = train(cfg, tmp_path / "ft", quiet=True)
    assert result.step == 2 and all(math.isfinite(v) for v in result.losses.values())
    source, _, _ = read_weights(imported)
    trained, config, _ = read_weights(tmp_path / "ft")
    assert config.train.init_from == str(imported) and set(trained) >= set(source)
    fresh = build_model(cfg).state_dict()
    moved = {k: (trained[k] - source[k]).abs().max() for k in source if source[k].is_floating_point()}
    assert any(d > 0 for d in moved.values()), "two steps changed nothing"
    for key in ("G.layers.1.weight", "D.layers.0.weight", "F.mlps.0.0.weight"):
        assert moved[key] < 0.1 * (fresh[key] - source[key]).abs().max(), key  # trained from the import


def test_train_init_through_the_command_line(reference_checkpoints, hue, tmp_path):
    """A G-only import (one released generator): G loaded, the rest initialised; resume stays as it is."""
    released = import_checkpoints([reference_checkpoints / "cyclegan" / "latest_net_G_A.pth"], tmp_path / "released")
    assert released.networks == ["G_AB"]
    command = [sys.executable, "-m", "pairless", "train", "--init", str(tmp_path / "released"), "--data", str(hue),
               "--size", "32", "--steps", "2", "--workers", "0", "--device", "cpu", "--out", str(tmp_path / "ft")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "starting from" in result.stdout + result.stderr and "G_AB loaded" in result.stdout + result.stderr
    assert read_weights(tmp_path / "ft")[1].method == "cyclegan"
    wrong_model = subprocess.run([*command[:-2], "--out", str(tmp_path / "x"), "--model", "cut"], capture_output=True,
                                 text=True, timeout=300)
    assert wrong_model.returncode == 2 and "holds a cyclegan model, not cut" in wrong_model.stderr
    both = subprocess.run([sys.executable, "-m", "pairless", "train", "--init", str(tmp_path / "released"), "--resume",
                           str(tmp_path / "ft")], capture_output=True, text=True, timeout=300)
    assert both.returncode == 2 and "--init starts a new run" in both.stderr


def test_an_imported_run_is_not_resumed(imported):
    with pytest.raises(PairlessError, match="was imported, not trained here.*--init"):
        RunConfig.for_run(None, None, None, imported, None)


def test_a_config_file_gives_the_settings_and_the_import_the_architecture(imported, tmp_path):
    """With --config and --init: the file's loss weights and GAN mode, the imported networks' width and
    blocks; a run's record of its own --init is not taken for a new request by --config."""
    from_file = RunConfig.defaults("cut").override({"model.lambda_nce": 5.0, "model.gan_mode": "hinge",
                                                    "model.width": 64, "train.init_from": "/elsewhere"})
    from_file.save(tmp_path / "c.yaml")
    cfg, _ = RunConfig.for_run(None, tmp_path / "c.yaml", None, None, tmp_path / "ft", read_checkpoint(imported).config)
    assert (cfg.model.lambda_nce, cfg.model.gan_mode) == (5.0, "hinge")
    assert (cfg.model.width, cfg.model.n_blocks, cfg.model.antialias_up) == (8, 9, True)
    again, _ = RunConfig.for_run(None, tmp_path / "c.yaml", None, None, tmp_path / "other")
    assert again.train.init_from is None and again.model.lambda_nce == 5.0
