"""DualGAN: end to end, the critics stay clipped, and the gradient-penalty variant trains."""

import pytest
import torch

from pairless.checkpoint import build_model
from pairless.config import RunConfig
from pairless.errors import PairlessError
from tests.conftest import train_resume_and_check

TINY = {"model.width": 4, "model.depth": 5}


def critic_extreme(model) -> float:
    return max(p.abs().max().item() for d in (model.D_A, model.D_B) for p in d.parameters())


def test_dualgan_end_to_end_keeps_critic_weights_clipped(tmp_path, unpaired_dir):
    result, model = train_resume_and_check("dualgan", unpaired_dir, tmp_path, TINY)
    assert {"D_A", "D_B", "rec_A", "rec_B", "total_G", "total_D"} <= set(result.losses)
    assert critic_extreme(model) <= model.config.clip


def test_clipping_runs_after_every_critic_step_only():
    model = build_model(RunConfig.defaults("dualgan").override({"size": 32, **TINY}))
    assert critic_extreme(model) > 0.01  # N(0, 0.02) initial weights exceed the limit
    generator_before = [p.clone() for p in model.G_AB.parameters()]
    model.after_optimizer_step("D")
    assert critic_extreme(model) == pytest.approx(0.01)
    assert all(torch.equal(a, b) for a, b in zip(generator_before, model.G_AB.parameters(), strict=True))


def test_gradient_penalty_replaces_clipping(tmp_path, unpaired_dir):
    result, model = train_resume_and_check("dualgan", unpaired_dir, tmp_path, {**TINY, "model.gradient_penalty": 10})
    assert "gp" in result.losses and not model.clip_critics
    assert critic_extreme(model) > model.config.clip


def test_critics_have_no_output_bias():
    model = build_model(RunConfig.defaults("dualgan").override({"size": 32, **TINY}))
    assert model.D_A.layers[-1].bias is None and "D_B.layers.11.bias" not in model.state_dict()


def test_preset_is_the_papers_rmsprop():
    cfg = RunConfig.defaults("dualgan")
    assert cfg.train.lr == 5e-5 and cfg.model.clip == 0.01
    assert {g.kind for g in build_model(cfg.override({"size": 64})).optimizer_groups()} == {"rmsprop"}


def test_crop_too_small_for_the_unet_depth_names_the_options():
    model = build_model(RunConfig.defaults("dualgan").override({"size": 32, **TINY, "depth": 6}))
    batch = {"A": torch.zeros(1, 3, 32, 32), "B": torch.zeros(1, 3, 32, 32)}
    with pytest.raises(PairlessError, match="--depth"):
        model.train_step(batch, updater=None)
