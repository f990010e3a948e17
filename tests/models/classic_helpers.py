"""Shared end-to-end check for the classic translators (DualGAN, DiscoGAN, DTN) and the feature losses."""

from __future__ import annotations

import math

import torch

from pairless.train.checkpoint import load_model, read_weights, save_checkpoint
from pairless.train.loop import train
from pairless.translator import Translator
from tests.conftest import tiny_config


def train_resume_and_check(method: str, data_root, tmp_path, overrides: dict, fixed: frozenset[str] = frozenset()):
    """Train 4 steps straight and as 1 + resumed 3; check finite losses, exact resume, every trainable
    weight (except `fixed` prefixes) changing after step 1, checkpoint round trip and translation."""
    cfg = tiny_config(method, data_root, **{"train.steps": 4, "train.save_every": 100, **overrides})
    train(cfg, tmp_path / "straight", quiet=True)
    train(cfg, tmp_path / "resumed", quiet=True, stop_at=1)
    after_one, _, _ = read_weights(tmp_path / "resumed")
    result = train(cfg, tmp_path / "resumed", resume=True, quiet=True)
    assert result.step == 4 and result.losses
    assert all(math.isfinite(v) for v in result.losses.values()), result.losses

    straight, _, _ = read_weights(tmp_path / "straight")
    resumed, _, _ = read_weights(tmp_path / "resumed")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight), "resume is not exact"

    model, run_cfg, step = load_model(tmp_path / "resumed")
    unchanged = {name for name, p in model.named_parameters()
                 if torch.equal(resumed[name], after_one[name]) and not name.startswith(tuple(fixed))}
    assert not unchanged, unchanged

    save_checkpoint(tmp_path / "copy", model, run_cfg, step, {}, keep_last=0)
    again, _, _ = load_model(tmp_path / "copy")
    x = torch.rand(2, model.input_channels("AtoB"), 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.translate(x), again.translate(x))

    translator = Translator.load(tmp_path / "resumed", device="cpu")
    for direction in translator.directions:
        out = translator.translate(torch.rand(3, 37, 29), direction=direction)
        assert out.shape == (3, 37, 29) and 0 <= out.min() and out.max() <= 1
    return result, model
