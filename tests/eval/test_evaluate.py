"""`pairless evaluate` end to end at 32 px, and the mode-collapse flag."""

import json

import pytest
import torch

from pairless.cli import main
from pairless.data.synthetic import make_synthetic_dataset
from pairless.eval.domain import domain_classifier_for
from pairless.eval.evaluate import distribution_scores
from pairless.eval.imageset import folder_paths, load_image_set
from pairless.train.loop import train
from tests.conftest import tiny_config, write_images


@pytest.fixture(scope="module")
def hue(tmp_path_factory):
    return make_synthetic_dataset("hue", tmp_path_factory.mktemp("eval") / "hue", count=8, test_count=6, size=32)


@pytest.fixture
def run_dir(hue, tmp_path):
    train(tiny_config("cut", hue, **{"train.steps": 2}), tmp_path / "run", quiet=True)
    return tmp_path / "run"


def cli(*args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code


def test_evaluate_writes_every_score(hue, run_dir, inception_weights, capsys):  # noqa: F811
    assert cli("evaluate", run_dir, "--data", hue, "--size", "32", "--inception-weights", inception_weights) == 0
    result = json.loads((run_dir / "eval" / "latest_test_AtoB" / "eval.json").read_text())
    metrics = result["metrics"]
    for name in ("fid", "kid", "fid_local", "kid_local", "domain_score", "diversity", "diversity_pixels",
                 "l1", "psnr", "ssim", "domain_score_untranslated", "fid_local_untranslated"):
        assert isinstance(metrics[name], float), name
    assert isinstance(metrics["mode_collapse"], bool)
    assert 0 <= metrics["domain_score"] <= 1 and metrics["fid"] >= 0
    assert result["translated_images"] == 6 and result["step"] == 2
    assert len(folder_paths(run_dir / "eval" / "latest_test_AtoB" / "translated")) == 6
    printed = capsys.readouterr().out
    assert "FID-local" in printed and "SSIM" in printed and "eval.json" in printed


def test_evaluate_offline_with_local_features(hue, run_dir, tmp_path):
    out = tmp_path / "local"
    write_images(out / "translated", 1, size=(32, 32))  # a stale file from some earlier run: not scored
    assert cli("evaluate", run_dir / "latest.safetensors", "--data", hue, "--features", "local", "--size", "32",
               "--limit", "4", "--out", out) == 0
    metrics = json.loads((out / "eval.json").read_text())["metrics"]
    assert "fid" not in metrics and metrics["fid_local"] >= 0 and metrics["l1"] > 0
    assert len(folder_paths(out / "translated")) == 4 + 1  # the stale file is left alone
    assert json.loads((out / "eval.json").read_text())["translated_images"] == 4


def test_evaluate_errors_name_the_problem(hue, run_dir, tmp_path, capsys):
    assert cli("evaluate", run_dir, "--data", tmp_path / "nowhere", "--features", "local") == 2
    assert "--data" in capsys.readouterr().err
    assert cli("evaluate", run_dir, "--data", hue, "--features", "clip") == 2
    assert "--features must be inception or local, got clip" in capsys.readouterr().err
    assert cli("evaluate", run_dir, "--data", hue, "--direction", "BtoA", "--features", "local") == 2
    assert "BtoA" in capsys.readouterr().err


def test_a_constant_model_is_flagged_as_collapsed(hue):
    judge = domain_classifier_for(hue, torch.device("cpu"))
    target = load_image_set(folder_paths(hue / "testB"), 32)
    varied = load_image_set(folder_paths(hue / "trainB"), 32)
    constant = varied[:1].expand(len(varied), -1, -1, -1)
    collapsed = distribution_scores(constant, target, judge, "B")
    healthy = distribution_scores(varied, target, judge, "B")
    assert collapsed["mode_collapse"] and collapsed["diversity"] == pytest.approx(0, abs=1e-6)
    assert not healthy["mode_collapse"] and healthy["diversity"] > 0.5


@pytest.mark.realdata
def test_evaluate_on_horse2zebra_with_local_features(shared_data, tmp_path):
    """The whole evaluate path on real photos: a briefly trained CUT, a few test images, FID-local."""
    data = shared_data / "horse2zebra"
    train(tiny_config("cut", data, **{"train.steps": 2}), tmp_path / "run", quiet=True)
    out = tmp_path / "eval"
    assert cli("evaluate", tmp_path / "run", "--data", data, "--features", "local", "--size", "64",
               "--limit", "6", "--out", out) == 0
    result = json.loads((out / "eval.json").read_text())
    metrics = result["metrics"]
    assert result["translated_images"] == 6 and result["target_images"] == 6
    assert metrics["fid_local"] >= 0 and metrics["fid_local_untranslated"] >= 0
    assert 0 <= metrics["domain_score"] <= 1 and "l1" not in metrics  # no ground truth for real photos
    assert result["domain_classifier"]["train_images"] == [1000, 1000]


def test_one_image_per_test_domain_is_the_usual_at_least_2_error(hue, run_dir, tmp_path, capsys):
    """It used to end in numpy's LinAlgError (the FID of one image)."""
    data = tmp_path / "one"
    for split in ("trainA", "trainB", "testA", "testB"):
        images = folder_paths(hue / split)[: 1 if split.startswith("test") else None]
        (data / split).mkdir(parents=True)
        for image in images:
            (data / split / image.name).write_bytes(image.read_bytes())
    assert cli("evaluate", run_dir, "--data", data, "--features", "local", "--size", "32") == 2
    assert "has one image: evaluation needs at least 2 test images of each domain" in capsys.readouterr().err
