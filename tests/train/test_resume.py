"""Training 2k steps equals training k steps, stopping, and resuming for k more (bit for bit on CPU)."""

import json

import pytest
import torch

from pairless.errors import PairlessError
from pairless.train.checkpoint import read_weights
from pairless.train.loop import train
from tests.conftest import tiny_config


@pytest.mark.parametrize("method, workers", [("cut", 0), ("fastcut", 2), ("cyclegan", 0), ("simdcl", 0)])
def test_resume_is_exact(tmp_path, unpaired_dir, method, workers):
    cfg = tiny_config(method, unpaired_dir, **{"train.steps": 6, "data.workers": workers,
                                              "train.save_every": 100})
    train(cfg, tmp_path / "straight", quiet=True)
    stopped = train(cfg, tmp_path / "resumed", quiet=True, stop_at=3)
    assert stopped.step == 3 and not stopped.finished and not stopped.interrupted
    result = train(cfg, tmp_path / "resumed", resume=True, quiet=True)
    assert result.step == 6 and result.finished
    straight, _, _ = read_weights(tmp_path / "straight")
    resumed, _, _ = read_weights(tmp_path / "resumed")
    assert straight.keys() == resumed.keys()
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name
    logged = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert logged == [2, 4, 6]


def test_resume_to_a_step_already_reached_does_nothing(tmp_path, unpaired_dir):
    cfg = tiny_config("cut", unpaired_dir, **{"train.steps": 2})
    train(cfg, tmp_path / "run", quiet=True)
    result = train(cfg, tmp_path / "run", resume=True, quiet=True)
    assert result.step == 2 and result.losses == {}


def test_resume_to_fewer_steps_than_reached_is_refused(tmp_path, unpaired_dir):
    cfg = tiny_config("cut", unpaired_dir, **{"train.steps": 4})
    train(cfg, tmp_path / "run", quiet=True)
    with pytest.raises(PairlessError, match=r"already at step 4, past the 2 steps asked for; pass a larger --steps"):
        train(cfg.override({"train.steps": 2}), tmp_path / "run", resume=True, quiet=True)
    assert read_weights(tmp_path / "run")[2] == 4


def test_resume_is_exact_with_several_discriminator_steps(tmp_path):
    """ContraGAN with 3 D steps per G step: each step reads 3 batches, so the sample indices of the
    resumed half must continue where the first half stopped."""
    from pairless.config import RunConfig
    from tests.conftest import write_images

    for i in range(3):
        write_images(tmp_path / "classes" / f"c{i}", 4, size=(20, 24), seed=i)
    cfg = RunConfig.defaults("contragan").override({
        "data.root": str(tmp_path / "classes"), "data.workers": 0, "data.flip": True, "model.backbone": "dcgan",
        "model.width": 4, "model.embed_dim": 8, "model.d_steps": 3, "model.holdout": 0.0,
        "train.batch_size": 2, "train.steps": 4, "train.log_every": 2, "train.save_every": 100,
        "train.device": "cpu"})
    train(cfg, tmp_path / "straight", quiet=True)
    train(cfg, tmp_path / "resumed", quiet=True, stop_at=2)
    train(cfg, tmp_path / "resumed", resume=True, quiet=True)
    straight, _, _ = read_weights(tmp_path / "straight")
    resumed, config, _ = read_weights(tmp_path / "resumed")
    assert config.model.d_steps == 3
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name
