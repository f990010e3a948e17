"""--eval-every: metrics logged during training, best.safetensors kept, exact resume unaffected."""

import json

import pytest
import torch

from pairless.checkpoint import read_state, read_weights
from pairless.data.synthetic import make_synthetic_dataset
from pairless.errors import PairlessError
from pairless.train.loop import train
from tests.conftest import tiny_config

EVAL = {"train.steps": 4, "train.eval_every": 2, "train.eval_images": 4, "train.eval_metric": "l1",
        "train.save_every": 100}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_synthetic_dataset("shapes", tmp_path_factory.mktemp("evaltrain") / "shapes", count=6,
                                  test_count=5, size=32)


def eval_records(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if "eval" in json.loads(line)]


def test_evaluations_are_logged_and_the_best_checkpoint_kept(shapes, tmp_path):
    run_dir = tmp_path / "run"
    train(tiny_config("cut", shapes, **EVAL), run_dir, quiet=True)
    records = eval_records(run_dir)
    assert [r["step"] for r in records] == [2, 4]
    for record in records:
        assert {"fid_local", "domain_score", "diversity", "l1", "psnr", "ssim"} <= set(record["eval"])
    best_step = min(records, key=lambda r: r["eval"]["l1"])["step"]
    _, _, step = read_weights(run_dir / "best.safetensors")
    assert step == best_step
    best = read_state(run_dir / "latest.state.pt")["best"]
    assert best == {"metric": "l1", "value": pytest.approx(min(r["eval"]["l1"] for r in records)),
                    "step": best_step}


def test_resume_with_evaluation_is_exact(shapes, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    cfg = tiny_config("cut", shapes, **EVAL)
    train(cfg, whole, quiet=True)
    train(cfg, split, quiet=True, stop_at=2)
    train(cfg, split, resume=True, quiet=True)
    a, _, _ = read_weights(whole)
    b, _, _ = read_weights(split)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["eval"] for r in eval_records(whole)] == [r["eval"] for r in eval_records(split)]


def test_a_metric_the_data_cannot_give_is_named(tmp_path):
    from tests.conftest import write_images

    for i, name in enumerate(["trainA", "trainB", "testA", "testB"]):
        write_images(tmp_path / "data" / name, 3, seed=i)
    cfg = tiny_config("cut", tmp_path / "data", **{**EVAL, "train.steps": 2})
    with pytest.raises(PairlessError, match="--eval-metric l1 is not measured"):
        train(cfg, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run" / "latest.safetensors").exists()  # refused before any training
    inception_only = tiny_config("cut", tmp_path / "data", **{**EVAL, "train.eval_metric": "fid"})
    with pytest.raises(PairlessError, match="--eval-metric fid is not measured during training"):
        train(inception_only, tmp_path / "run2", quiet=True)
    with pytest.raises(PairlessError, match="--eval-metric"):
        tiny_config("cut", tmp_path / "data", **{"train.eval_metric": "accuracy"})


def test_eval_without_held_out_images_is_refused(tmp_path):
    from tests.conftest import write_images

    for i, name in enumerate(["trainA", "trainB"]):
        write_images(tmp_path / "data" / name, 3, seed=i)
    cfg = tiny_config("cut", tmp_path / "data", **{**EVAL, "train.steps": 2})
    with pytest.raises(PairlessError, match="--eval-every needs held-out images"):
        train(cfg, tmp_path / "run", quiet=True)
