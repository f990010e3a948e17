"""Every method through the real trainer on tiny images: finite losses, all weights learn, checkpoints
round-trip exactly, translation works in each direction at odd sizes."""

import json
import math

import pytest
import torch

from pairless.checkpoint import build_model, load_model, read_weights, save_checkpoint
from pairless.config import RunConfig
from pairless.models.registry import method_names
from pairless.nn.patchgan import PatchDiscriminator
from pairless.train.datasets import data_kind
from pairless.train.loop import train
from pairless.translator import Translator
from tests.conftest import TINY_MODEL, tiny_config


def folder_translation_methods() -> set[str]:
    """Methods trained on trainA/ + trainB/ folders; single-image and class-conditional ones have their own
    end-to-end tests (test_sincut.py, test_conditional.py)."""
    return {m for m in method_names()
            if data_kind(m) == "unpaired" and not RunConfig.defaults(m).data.single_image}


def test_every_registered_method_has_a_tiny_test_config():
    assert folder_translation_methods() <= set(TINY_MODEL)
    assert {"sincut", "contragan"} <= set(method_names()) - folder_translation_methods()


@pytest.fixture(scope="module", params=sorted(TINY_MODEL))
def trained(request, tmp_path_factory):
    """Train 1 step, then resume to 4: the weights of steps 1 and 4 are both on disk."""
    method = request.param
    root = tmp_path_factory.mktemp(method)
    from tests.conftest import write_images

    for i, name in enumerate(["trainA", "trainB", "testA", "testB"]):
        write_images(root / "data" / name, 4, seed=i)
    cfg = tiny_config(method, root / "data", **{"train.steps": 4, "train.save_every": 100})
    run = root / "run"
    train(cfg, run, quiet=True, stop_at=1)
    after_one, _, _ = read_weights(run)
    result = train(cfg, run, resume=True, quiet=True)
    return method, run, after_one, result


def test_losses_are_finite_and_logged(trained):
    _, run, _, result = trained
    assert result.step == 4 and result.losses
    assert all(math.isfinite(v) for v in result.losses.values())
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logged] == [2, 4]
    assert (run / "samples" / "step_00000004.png").is_file()


def test_every_method_logs_raw_terms_and_the_total_of_each_network(trained):
    """The same names for every method: `total_<net>` per optimised network, the other values raw terms."""
    _, _, _, result = trained
    assert {name for name in result.losses if name.startswith("total_")} == {"total_G", "total_D"}
    assert "G" not in result.losses and len(result.losses) > 3


def hinge_exempt_biases(model) -> set[str]:
    """Under a hinge objective the output bias of a discriminator gets exactly zero gradient while all its
    outputs are inside the margin (the real and fake terms contribute -1 and +1): true of a fresh model."""
    if not getattr(model.config, "gan_mode", "").startswith("hinge"):
        return set()
    return {f"{name}.layers.{len(m.layers) - 1}.bias" for name, m in model.named_modules()
            if isinstance(m, PatchDiscriminator)}


def clipped_mixing_ratios(state: dict) -> set[str]:
    """AdaLIN/ILN's rho is clipped to [0, 1] after each step: one held at a bound cannot move (ILN's starts at 0)."""
    return {name for name, value in state.items()
            if name.endswith("rho") and bool(((value == 0) | (value == 1)).all())}


def test_every_trainable_weight_changes(trained):
    _, run, after_one, _ = trained
    model, _, _ = load_model(run)
    final = model.state_dict()
    unchanged = {name for name, p in model.named_parameters()
                 if p.requires_grad and torch.equal(final[name], after_one[name])}
    assert not unchanged - hinge_exempt_biases(model) - clipped_mixing_ratios(final)


def test_checkpoint_round_trip_gives_identical_outputs(trained, tmp_path):
    _, run, _, _ = trained
    model, cfg, step = load_model(run)
    save_checkpoint(tmp_path, model, cfg, step, {}, keep_last=0)
    again, cfg2, step2 = load_model(tmp_path)
    assert cfg2 == cfg and step2 == step
    x = torch.rand(2, model.input_channels("AtoB"), 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.translate(x), again.translate(x))


def test_translate_each_direction_at_odd_sizes(trained):
    _, run, _, _ = trained
    translator = Translator.load(run, device="cpu")
    for direction in translator.directions:
        out = translator.translate(torch.rand(3, 37, 29), direction=direction)
        assert out.shape == (3, 37, 29) and 0 <= out.min() and out.max() <= 1


def test_fresh_models_build_from_presets():
    for method in method_names():
        settings = {"size": 64}
        if data_kind(method) == "labelled":
            settings |= {"num_classes": 10, "image_size": 32}  # what training reads from the data set
        cfg = RunConfig.defaults(method).override(settings)
        model = build_model(cfg)
        assert {g.name for g in model.optimizer_groups()} >= {"G", "D"}
