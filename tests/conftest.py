"""Shared fixtures: tiny image folders, small configs, and the real-data location."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pairless.config import RunConfig

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

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


@pytest.fixture
def shared_data() -> Path:
    """../shared/data: skipped where absent, required when PAIRLESS_REQUIRE_SHARED=1 (CI)."""
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    if os.environ.get("PAIRLESS_REQUIRE_SHARED") == "1":
        pytest.fail(f"PAIRLESS_REQUIRE_SHARED=1 but {SHARED_DATA} is missing")
    pytest.skip(f"real data not available at {SHARED_DATA}")
