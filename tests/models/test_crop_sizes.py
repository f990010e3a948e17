"""Every translator trains with its defaults at small crops: whatever depends on the crop size (U-Net
depth, discriminator depth, γ/β grid, SimDCL's patch count) adapts instead of stopping. Only the widths
(and DTN's pre-training length) are shrunk, for speed."""

import math

import pytest

from pairless.checkpoint import build_model
from pairless.config import RunConfig
from pairless.models.registry import method_names
from pairless.train.datasets import data_kind
from pairless.train.loop import train
from tests.conftest import write_images

SPEED = {"dtn": {"model.pretrain_steps": 1}, "sincut": {"model.d_width": 2, "train.batch_size": 2}}


def translators() -> list[str]:
    return [m for m in method_names() if data_kind(m) == "unpaired"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("crops")
    for i, name in enumerate(["trainA", "trainB", "testA", "testB"]):
        write_images(root / "folders" / name, 2, size=(80, 72), seed=i)
    write_images(root / "single" / "a", 1, size=(200, 160), seed=5)
    write_images(root / "single" / "b", 1, size=(192, 176), seed=6)
    return root


@pytest.mark.filterwarnings("ignore:--num-patches")  # SimDCL at 32 px says it samples 64 per layer
@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("method", translators())
def test_trains_with_defaults_at_small_crops(method, size, data, tmp_path):
    cfg = RunConfig.defaults(method)
    if cfg.data.single_image:
        source = {"data.data_a": str(data / "single" / "a" / "img000.png"),
                  "data.data_b": str(data / "single" / "b" / "img000.png")}
    else:
        source = {"data.root": str(data / "folders")}
    cfg = cfg.override({**source, "data.size": size, "data.workers": 0, "model.width": 2, "train.steps": 1,
                        "train.device": "cpu", **SPEED.get(method, {})})
    result = train(cfg, tmp_path / "run", quiet=True)
    assert result.finished and result.losses
    assert all(math.isfinite(v) for v in result.losses.values())
    watched = build_model(cfg).discriminator_losses()
    if watched and "total_D" in result.losses:  # (DTN's first step pre-trains its encoder only)
        assert set(watched) & set(result.losses), "the runaway-D warning watches no logged loss"
