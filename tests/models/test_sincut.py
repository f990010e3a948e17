"""SinCUT end to end at 32 px on one image per domain: training, resume, checkpoints, translation, CLI."""

import json
import math
from pathlib import Path

import pytest
import torch

from pairless.checkpoint import build_model, load_model, read_weights, save_checkpoint
from pairless.cli import main
from pairless.config import RunConfig
from pairless.errors import PairlessError
from pairless.losses.adversarial import discriminator_loss
from pairless.losses.r1 import r1_penalty
from pairless.train.loop import train
from pairless.translator import Translator
from tests.conftest import tiny_config, write_images

# 32 px crops reach the discriminator's 4x4 map after 3 blocks; batch 4 gives PatchNCE 3 negatives.
TINY_SINCUT = {"model.width": 1, "model.d_width": 2, "model.n_blocks": 4,
               "model.head_dim": 16, "train.batch_size": 4, "data.load_size": None}
TINY_FLAGS = ["--size", "32", "--width", "1", "--d-width", "2", "--n-blocks", "4",
              "--head-dim", "16", "--batch-size", "4", "--workers", "0", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def two_images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sincut") / "data"
    write_images(root / "trainA", 1, size=(80, 64), seed=1)
    write_images(root / "trainB", 1, size=(72, 60), seed=2)
    return root


def tiny(root: Path, **overrides) -> RunConfig:
    return tiny_config("sincut", root, **{**TINY_SINCUT, **overrides})


@pytest.fixture(scope="module")
def trained(two_images, tmp_path_factory):
    """Train 1 step, then resume to 4: the weights of steps 1 and 4 are both on disk."""
    run = tmp_path_factory.mktemp("sincut-run") / "run"
    cfg = tiny(two_images, **{"train.steps": 4, "train.save_every": 100})
    train(cfg, run, quiet=True, stop_at=1)
    after_one, _, _ = read_weights(run)
    result = train(cfg, run, resume=True, quiet=True)
    return run, after_one, result


def test_preset_has_the_reference_single_image_defaults():
    cfg = RunConfig.defaults("sincut")
    m, d, t = cfg.model, cfg.data, cfg.train
    assert (m.nce_layers, m.num_patches, m.nce_negatives, m.lambda_nce, m.nce_idt) == ((0, 2, 4), 1, "batch", 4.0, True)
    assert (m.gan_mode, m.lambda_r1, m.lambda_identity, m.width, m.d_width, m.n_downsampling) == (
        "nonsaturating", 1.0, 1.0, 10, 8, 1)
    assert (d.preprocess, d.size, d.random_scale_max) == ("zoom_and_patch", 64, 3.0)
    assert (t.lr, t.beta1, t.beta2, t.batch_size, t.epochs, t.decay_fraction) == (2e-3, 0.0, 0.99, 16, 16, 0.5)


def test_losses_are_finite_and_include_r1_and_identity(trained):
    run, _, result = trained
    assert result.step == 4
    assert {"D", "D_R1", "G_gan", "nce", "nce_idt", "idt", "total_G", "total_D"} <= set(result.losses)
    assert all(math.isfinite(v) for v in result.losses.values()) and result.losses["D_R1"] > 0
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logged] == [2, 4]
    assert (run / "samples" / "step_00000004.png").is_file()


def test_every_trainable_weight_changes(trained):
    run, after_one, _ = trained
    model, _, _ = load_model(run)
    final = model.state_dict()
    unchanged = [name for name, p in model.named_parameters() if torch.equal(final[name], after_one[name])]
    assert not unchanged


def test_checkpoint_round_trip_and_full_resolution_translation(trained, tmp_path):
    run, _, _ = trained
    model, cfg, step = load_model(run)
    save_checkpoint(tmp_path, model, cfg, step, {}, keep_last=0)
    again, _, _ = load_model(tmp_path)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.translate(x), again.translate(x))
    translator = Translator.load(run, device="cpu")
    for height, width in ((48, 40), (37, 29)):
        out = translator.translate(torch.rand(3, height, width))
        assert out.shape == (3, height, width) and 0 <= out.min() and out.max() <= 1


def test_resume_is_exact(two_images, tmp_path):
    cfg = tiny(two_images, **{"train.steps": 4, "train.save_every": 100})
    train(cfg, tmp_path / "straight", quiet=True)
    train(cfg, tmp_path / "resumed", quiet=True, stop_at=2)
    train(cfg, tmp_path / "resumed", resume=True, quiet=True)
    straight, _, _ = read_weights(tmp_path / "straight")
    resumed, _, _ = read_weights(tmp_path / "resumed")
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name


class Recorder:
    """An Updater that only records what it was asked to step."""

    def step(self, loss, *groups):
        self.loss, self.groups = loss, groups


@pytest.mark.parametrize("lambda_r1", [0.0, 1.0, 3.0])
def test_discriminator_loss_is_half_the_gan_loss_plus_half_lambda_r1(two_images, lambda_r1):
    torch.manual_seed(0)
    model = build_model(tiny(two_images, **{"model.lambda_r1": lambda_r1}))
    real, fake = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    recorder = Recorder()
    objective = model.discriminator_step(real, fake, recorder)
    leaf = real.clone().requires_grad_()
    scores = model.D(leaf)
    expected = 0.5 * discriminator_loss("nonsaturating", scores, model.D(fake))
    expected = expected + 0.5 * lambda_r1 * r1_penalty(scores, leaf)
    assert recorder.groups == ("D",) and recorder.loss is objective.total
    assert torch.allclose(objective.total, expected)
    assert ("D_R1" in objective.terms) == (lambda_r1 > 0) and not real.requires_grad


def test_shared_feature_losses_apply_to_sincut(two_images, tmp_path):
    cfg = tiny(two_images, **{"model.loss_mmd": 0.5, "model.loss_feature_matching": 2.0, "train.steps": 1})
    result = train(cfg, tmp_path / "run", quiet=True)
    assert {"mmd", "fm"} <= set(result.losses) and all(math.isfinite(v) for v in result.losses.values())


@pytest.mark.parametrize("size, blocks", [(32, 3), (64, 4), (128, 5)])
def test_discriminator_depth_follows_the_crop_size_unless_given(size, blocks):
    cfg = RunConfig.defaults("sincut").override({"size": size})
    assert cfg.model.d_blocks is None and cfg.resolved().model.d_blocks == blocks
    assert cfg.override({"d_blocks": 2}).resolved().model.d_blocks == 2
    model = build_model(cfg.override({"width": 1, "d_width": 1}))
    assert model.D(torch.rand(1, 3, size, size)).shape == (1, 1)


def test_crop_size_the_discriminator_cannot_take_names_the_option():
    with pytest.raises(PairlessError, match="--size 48"):
        RunConfig.defaults("sincut").override({"size": 48}).resolved()


def test_wrong_discriminator_depth_for_the_crop_names_the_option(two_images, tmp_path):
    with pytest.raises(PairlessError, match="--d-blocks"):
        train(tiny(two_images, **{"model.d_blocks": 4, "train.steps": 1}), tmp_path / "run", quiet=True)


def test_config_errors_name_the_options():
    with pytest.raises(PairlessError, match="--n-blocks"):
        RunConfig.defaults("sincut").override({"n_blocks": 3})
    with pytest.raises(PairlessError, match="--nce-layers"):
        build_model(RunConfig.defaults("sincut").override({"nce_layers": "0,2,6"}))


def run_cli(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_cli_trains_from_two_image_files_then_translates_a_larger_image(two_images, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "--model", "sincut", "--data-a", two_images / "trainA" / "img000.png",
                             "--data-b", two_images / "trainB" / "img000.png", "--out", run, "--steps", "2",
                             *TINY_FLAGS)
    assert code == 0, err
    assert "trained sincut at step 2/2" in out
    big = write_images(tmp_path / "big", 1, size=(96, 70), seed=3)[0]
    code, out, err = run_cli(capsys, "translate", run, big, "--out", tmp_path / "translated")
    assert code == 0, err
    assert read_weights(run)[2] == 2
    from PIL import Image

    assert Image.open(tmp_path / "translated" / "img000.png").size == (96, 70)


def test_cli_refuses_a_folder_with_several_images_per_domain(tmp_path, capsys):
    for i, name in enumerate(("trainA", "trainB")):
        write_images(tmp_path / "data" / name, 3, seed=i)
    code, _, err = run_cli(capsys, "train", "--model", "sincut", "--data", tmp_path / "data", "--out",
                           tmp_path / "run", *TINY_FLAGS)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert "holds 3 images" in err and "--data-a and --data-b" in err


def test_cli_needs_both_image_files(tmp_path, capsys, two_images):
    code, _, err = run_cli(capsys, "train", "--model", "sincut", "--data-a", two_images / "trainA" / "img000.png",
                           "--out", tmp_path / "run", *TINY_FLAGS)
    assert code == 2 and "--data-a and --data-b go together" in err
    code, _, err = run_cli(capsys, "train", "--model", "sincut", "--out", tmp_path / "run", *TINY_FLAGS)
    assert code == 2 and "--data-a and --data-b" in err


@pytest.mark.realdata
def test_sincut_trains_a_few_steps_on_the_monet_etretat_pair(shared_data, tmp_path):
    root = shared_data / "single_image_monet_etretat"
    cfg = tiny(root, **{"train.steps": 2})
    result = train(cfg, tmp_path / "run", quiet=True)
    assert result.step == 2 and all(math.isfinite(v) for v in result.losses.values())
    translator = Translator.load(tmp_path / "run", device="cpu")
    out = translator.translate(torch.rand(3, 150, 121))
    assert out.shape == (3, 150, 121)
