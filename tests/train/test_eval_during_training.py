"""--eval-every: metrics logged during training, best.safetensors kept, exact resume unaffected."""

import json

import pytest
import torch

from pairless.checkpoint import read_state, read_weights
from pairless.data.synthetic import make_synthetic_dataset
from pairless.errors import PairlessError
from pairless.train.loop import train
from tests.conftest import tiny_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")
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


INCEPTION = {**EVAL, "train.eval_features": "inception", "train.eval_images": "all", "train.eval_metric": "fid"}


def inception_config(data, weights, **overrides):
    return tiny_config("cut", data, **{**INCEPTION, "train.eval_inception_weights": str(weights), **overrides})


@pytest.fixture(scope="module")
def inception_runs(shapes, inception_weights, tmp_path_factory):
    """The same run straight and as stop at step 2 + resume, evaluated in the Inception features."""
    base = tmp_path_factory.mktemp("inception")
    cfg = inception_config(shapes, inception_weights)
    train(cfg, base / "whole", quiet=True)
    train(cfg, base / "split", quiet=True, stop_at=2)
    train(cfg, base / "split", resume=True, quiet=True)
    return base / "whole", base / "split"


def test_inception_scores_are_logged_everywhere_and_pick_the_best_checkpoint(inception_runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = inception_runs
    records = eval_records(run_dir)
    assert [r["step"] for r in records] == [2, 4]
    for record in records:
        assert {"fid", "kid", "kid_std", "fid_local", "domain_score", "l1"} <= set(record["eval"])
    best_step = min(records, key=lambda r: r["eval"]["fid"])["step"]
    assert read_weights(run_dir / "best.safetensors")[2] == best_step
    assert read_state(run_dir / "latest.state.pt")["best"]["metric"] == "fid"
    events = EventAccumulator(str(run_dir))
    events.Reload()
    for name in ("eval/fid", "eval/kid", "eval/fid_local"):
        assert [event.step for event in events.Scalars(name)] == [2, 4]
    assert [event.value for event in events.Scalars("eval/fid")] == pytest.approx([r["eval"]["fid"] for r in records])


def test_resume_with_inception_evaluation_is_exact(inception_runs):
    """Building the Inception network draws initial weights; a resumed run must not see that in its stream."""
    whole, split = inception_runs
    a, _, _ = read_weights(whole)
    b, _, _ = read_weights(split)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["eval"] for r in eval_records(whole)] == [r["eval"] for r in eval_records(split)]


@pytest.mark.parametrize(("images", "expected"), [("all", 5), (3, 3)])
def test_eval_images_all_takes_the_whole_test_split_at_the_eval_size(shapes, images, expected):
    from pairless.train.evaluation import TrainingEvaluator

    cfg = tiny_config("cut", shapes, **{**EVAL, "train.eval_images": images, "train.eval_size": 24})
    evaluator = TrainingEvaluator(cfg, torch.device("cpu"))
    assert evaluator.images.source.shape == (expected, 3, 24, 24)
    assert evaluator.images.real.shape == (expected, 3, 24, 24)
    assert evaluator.real.inception is None and evaluator.real.local.shape[0] == expected


def test_eval_options_are_checked(shapes, tmp_path):
    with pytest.raises(PairlessError, match="^--eval-images must be at least 2 or all, got 1$"):
        tiny_config("cut", shapes, **{"train.eval_images": 1})
    with pytest.raises(PairlessError, match="--eval-features must be inception or local, got clip"):
        tiny_config("cut", shapes, **{"train.eval_features": "clip"})
    cfg = tiny_config("cut", shapes, **{**EVAL, "train.eval_reference": str(shapes / "testB")})
    with pytest.raises(PairlessError, match="--eval-reference is for class-conditional runs"):
        train(cfg, tmp_path / "run", quiet=True)


@pytest.fixture(scope="module")
def classes(tmp_path_factory):
    from tests.conftest import write_images

    root = tmp_path_factory.mktemp("classes")
    for split, count in (("train", 4), ("test", 3)):
        for label in range(3):
            write_images(root / split / f"c{label}", count, size=(32, 32), seed=10 * label + count)
    return root


def test_class_conditional_runs_are_scored_against_the_reference_images(classes, inception_weights, tmp_path):
    from tests.conftest import tiny_conditional

    settings = {"train.steps": 4, "train.eval_every": 2, "train.eval_features": "inception",
                "train.eval_images": "all", "train.eval_metric": "fid", "model.ema": True,
                "train.eval_inception_weights": str(inception_weights)}
    with pytest.raises(PairlessError, match="--eval-reference FOLDER"):
        train(tiny_conditional("contragan", classes / "train", **settings), tmp_path / "none", quiet=True)
    settings["train.eval_reference"] = str(classes / "test")
    with pytest.raises(PairlessError, match="--eval-metric fid_local is not measured during training of contragan"):
        train(tiny_conditional("contragan", classes / "train", **{**settings, "train.eval_metric": "fid_local"}),
              tmp_path / "local", quiet=True)
    run_dir = tmp_path / "run"
    train(tiny_conditional("contragan", classes / "train", **settings), run_dir, quiet=True)
    records = eval_records(run_dir)
    assert [r["step"] for r in records] == [2, 4]
    assert all({"fid", "kid", "diversity_pixels"} <= set(r["eval"]) for r in records)
    best_step = min(records, key=lambda r: r["eval"]["fid"])["step"]
    assert read_weights(run_dir / "best.safetensors")[2] == best_step
