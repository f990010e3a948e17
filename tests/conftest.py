"""Shared fixtures and helpers: tiny image folders, small configs, random Inception weights, the real-data
location, and the train-stop-resume check of the classic translators."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch_fidelity import feature_extractor_inceptionv3 as inception_module

from pairless.checkpoint import load_model, read_weights, save_checkpoint
from pairless.config import RunConfig
from pairless.eval.features import INCEPTION_FILE
from pairless.train.loop import train
from pairless.translator import Translator

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
REFERENCE_CHECKPOINTS = PROJECT_ROOT.parent / "shared" / "fixtures" / "reference-checkpoints"

# Narrow networks and small crops keep each end-to-end run to seconds on two CPU cores.
TINY_MODEL = {
    "cut": {"width": 8, "n_blocks": 5, "num_patches": 16, "head_dim": 16},
    "fastcut": {"width": 8, "n_blocks": 5, "num_patches": 16, "head_dim": 16},
    "cyclegan": {"width": 8, "n_blocks": 2, "pool_size": 3},
    "dclgan": {"width": 8, "n_blocks": 5, "num_patches": 16, "head_dim": 16, "pool_size": 3},
    "simdcl": {"width": 8, "n_blocks": 5, "num_patches": 16, "head_dim": 16, "pool_size": 3, "sim_dim": 8},
    "dualgan": {"width": 4, "depth": 5},
    "discogan": {"width": 4},
    "dtn": {"width": 4, "feature_dim": 8, "pretrain_steps": 2},
    "ugatit": {"width": 4, "n_blocks": 2, "d_layers_local": 4},
    "ugatit-light": {"width": 4, "n_blocks": 2, "d_layers_local": 4},
}


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny networks run fastest on one thread, by far so on a busy machine (threads wait for each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def quick_domain_classifier(tmp_path_factory):
    """Evaluation's domain classifier: a per-session cache (not ~/.cache) and a short training. Session
    scope, so that module-scoped fixtures which evaluate get it too."""
    from pairless.eval import domain

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PAIRLESS_CACHE", str(tmp_path_factory.getbasetemp() / "pairless-cache"))
        patch.setattr(domain, "CLASSIFIER_STEPS", 40)
        yield


def write_images(folder: Path, count: int, size=(40, 36), mode="RGB", seed=0, suffix=".png") -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        channels = 3 if mode == "RGB" else 1
        pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
        image = Image.fromarray(pixels if channels == 3 else pixels[..., 0], mode)
        path = folder / f"img{i:03d}{suffix}"
        image.save(path)
        paths.append(path)
    return paths


@pytest.fixture
def unpaired_dir(tmp_path: Path) -> Path:
    """trainA (5), trainB (4), testA (3), testB (3) random RGB images of 40x36 px."""
    root = tmp_path / "data"
    for i, (name, count) in enumerate({"trainA": 5, "trainB": 4, "testA": 3, "testB": 3}.items()):
        write_images(root / name, count, seed=i)
    return root


def tiny_config(method: str, root: Path, **overrides) -> RunConfig:
    """A method's preset shrunk for CPU tests: 32 px crops, narrow nets, no data workers."""
    values = {
        "data.root": str(root), "data.size": 32, "data.load_size": 36, "data.workers": 0,
        "train.steps": 4, "train.log_every": 2, "train.sample_every": 2, "train.save_every": 2,
        "train.device": "cpu",
        **{f"model.{k}": v for k, v in TINY_MODEL.get(method, {}).items()},
    }
    values.update(overrides)
    return RunConfig.defaults(method).override(values)


def shared_folder(path: Path, what: str) -> Path:
    """A folder of ../shared: skipped where absent, required when PAIRLESS_REQUIRE_SHARED=1 (CI)."""
    if path.is_dir():
        return path
    if os.environ.get("PAIRLESS_REQUIRE_SHARED") == "1":
        pytest.fail(f"PAIRLESS_REQUIRE_SHARED=1 but {path} is missing")
    pytest.skip(f"{what} not available at {path}")


@pytest.fixture
def shared_data() -> Path:
    """../shared/data (real data sets)."""
    return shared_folder(SHARED_DATA, "real data")


@pytest.fixture(scope="session")
def reference_checkpoints() -> Path:
    """../shared/fixtures/reference-checkpoints: files written by the original implementations and the
    outputs their code computes from them (its README says how they were made)."""
    return shared_folder(REFERENCE_CHECKPOINTS, "the original implementations' checkpoints")


# Class-conditional GANs: tiny DCGAN backbones on 20 x 24 px class folders.
TINY_CONDITIONAL = {"model.backbone": "dcgan", "model.width": 4, "model.embed_dim": 8, "model.holdout": 0.25,
        "train.batch_size": 4, "train.steps": 3, "train.log_every": 1, "train.sample_every": 3,
        "train.save_every": 100, "data.workers": 0, "train.device": "cpu"}


def tiny_conditional(method, root, **overrides):
    return RunConfig.defaults(method).override({"data.root": str(root), **TINY_CONDITIONAL, **overrides})


def write_random_inception_weights(path):
    """A randomly initialised network of the right architecture, saved as torch-fidelity loads it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inception_module, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(inception_module.FeatureExtractorInceptionV3, "load_state_dict",
                      lambda self, state, strict=True: None)
        torch.manual_seed(0)
        net = inception_module.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], verbose=False)
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory):
    return write_random_inception_weights(tmp_path_factory.mktemp("inception") / INCEPTION_FILE)


def train_resume_and_check(method: str, data_root, tmp_path, overrides: dict, fixed: frozenset[str] = frozenset()):
    """Train 4 steps straight and as 1 + resumed 3; check finite losses, exact resume, every trainable
    weight (except `fixed` prefixes) changing after step 1, checkpoint round trip and translation."""
    cfg = tiny_config(method, data_root, **{"train.steps": 4, "train.save_every": 100, **overrides})
    train(cfg, tmp_path / "straight", quiet=True)
    train(cfg, tmp_path / "resumed", quiet=True, stop_at=1)
    after_one, _, _ = read_weights(tmp_path / "resumed")
    result = train(cfg, tmp_path / "resumed", resume=True, quiet=True)
    assert result.step == 4 and result.losses
    assert all(math.isfinite(v) for v in result.losses.values()), result.losses

    straight, _, _ = read_weights(tmp_path / "straight")
    resumed, _, _ = read_weights(tmp_path / "resumed")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight), "resume is not exact"

    model, run_cfg, step = load_model(tmp_path / "resumed")
    unchanged = {name for name, p in model.named_parameters()
                 if torch.equal(resumed[name], after_one[name]) and not name.startswith(tuple(fixed))}
    assert not unchanged, unchanged

    save_checkpoint(tmp_path / "copy", model, run_cfg, step, {}, keep_last=0)
    again, _, _ = load_model(tmp_path / "copy")
    x = torch.rand(2, model.input_channels("AtoB"), 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.translate(x), again.translate(x))

    translator = Translator.load(tmp_path / "resumed", device="cpu")
    for direction in translator.directions:
        out = translator.translate(torch.rand(3, 37, 29), direction=direction)
        assert out.shape == (3, 37, 29) and 0 <= out.min() and out.max() <= 1
    return result, model


SWITCH_WEIGHT_TOLERANCE = 1e-6
"""Largest weight difference allowed after 4 steps; the steps themselves move weights by about 1e-3."""
SWITCH_LOSS_TOLERANCE = 1e-5
"""Relative difference allowed between the logged mean losses."""


def assert_switch_keeps_training_the_same(method: str, data_root, tmp_path, switch: str) -> None:
    """4 steps with the on/off config field `switch` on and off: the same logged losses and weights to
    rounding (for levers that change how a step is computed, not what it computes)."""
    runs = {}
    for on in (True, False):
        cfg = tiny_config(method, data_root, **{"train.steps": 4, "train.log_every": 4, "train.save_every": 100,
                                                switch: on})
        result = train(cfg, tmp_path / str(on), quiet=True)
        runs[on] = result.losses, read_weights(tmp_path / str(on))[0]
    (losses_on, weights_on), (losses_off, weights_off) = runs[True], runs[False]
    assert losses_on.keys() == losses_off.keys()
    for name, value in losses_off.items():
        assert losses_on[name] == pytest.approx(value, rel=SWITCH_LOSS_TOLERANCE), name
    for name, value in weights_off.items():
        assert torch.allclose(weights_on[name], value, rtol=0, atol=SWITCH_WEIGHT_TOLERANCE), name
