"""The data pipeline and a short training run on the real horse2zebra set (../shared/data)."""

import pytest
import torch

from pairless.data.config import DataConfig
from pairless.data.images import list_images, read_image
from pairless.data.unpaired import UnpairedImageFolder
from pairless.train.loop import train
from tests.conftest import tiny_config

pytestmark = pytest.mark.realdata


def test_horse2zebra_loads_with_the_published_counts(shared_data):
    root = shared_data / "horse2zebra"
    counts = {split: len(list_images(root / split)) for split in ("trainA", "trainB", "testA", "testB")}
    assert counts == {"trainA": 1067, "trainB": 1334, "testA": 120, "testB": 140}
    ds = UnpairedImageFolder(DataConfig(root=str(root), size=256), seed=0)
    assert len(ds) == 1334 and ds.fixed_shape
    sample = ds[5]
    assert sample["A"].shape == (3, 256, 256) and sample["B"].shape == (3, 256, 256)


def test_grayscale_zebras_become_three_channels(shared_data):
    gray = [p for p in list_images(shared_data / "horse2zebra" / "trainB") if read_image(p).shape[0] == 1]
    assert len(gray) == 7
    assert read_image(gray[0], channels=3).shape == (3, 256, 256)


def test_cut_trains_a_few_steps_on_horse2zebra(shared_data, tmp_path):
    cfg = tiny_config("cut", shared_data / "horse2zebra", **{"data.size": 64, "data.load_size": 72,
                                                             "train.steps": 3})
    result = train(cfg, tmp_path / "run", quiet=True)
    assert result.step == 3 and all(torch.isfinite(torch.tensor(v)) for v in result.losses.values())
