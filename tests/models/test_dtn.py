"""DTN: both ways of getting the encoder f (pre-trained here, or a file), f staying fixed, self-contained
checkpoints, and clear errors for a wrong encoder file."""

import pytest
import torch
from safetensors.torch import save_file

from pairless.checkpoint import build_model, read_weights
from pairless.config import RunConfig
from pairless.errors import PairlessError
from pairless.train.loop import train
from pairless.translator import Translator
from tests.conftest import tiny_config, train_resume_and_check

TINY = {"model.width": 4, "model.feature_dim": 8}


def f_weights(tensors):
    return {k: v for k, v in tensors.items() if k.startswith("f.")}


def test_dtn_pretrains_its_encoder_then_keeps_it_fixed(tmp_path, unpaired_dir):
    faces = {"model.alpha": 100, "model.beta": 1, "model.gamma": 0.05}
    overrides = {**TINY, **faces, "model.pretrain_steps": 2}
    result, model = train_resume_and_check("dtn", unpaired_dir, tmp_path, overrides)
    assert {"G_gan", "const", "tid", "tv", "D"} <= set(result.losses) and result.losses["tv"] > 0
    cfg = tiny_config("dtn", unpaired_dir, **{**TINY, "model.pretrain_steps": 2, "train.steps": 4})
    train(cfg, tmp_path / "staged", quiet=True, stop_at=2)
    after_pretraining, _, _ = read_weights(tmp_path / "staged")
    train(cfg, tmp_path / "staged", resume=True, quiet=True)
    final, _, _ = read_weights(tmp_path / "staged")
    for name, value in f_weights(after_pretraining).items():  # weights and batch-norm statistics
        assert torch.equal(value, final[name]), name


@pytest.mark.parametrize("kind", ["bare", "checkpoint"])
def test_dtn_with_an_encoder_file_is_self_contained(tmp_path, unpaired_dir, kind):
    torch.manual_seed(1)
    donor = build_model(RunConfig.defaults("dtn").override({"size": 32, "width": 4, "feature_dim": 8}))
    encoder = tmp_path / "encoder.safetensors"
    state = donor.f.state_dict() if kind == "bare" else donor.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, encoder)
    expected = {f"f.{k}": v for k, v in donor.f.state_dict().items()}

    _, model = train_resume_and_check("dtn", unpaired_dir, tmp_path, {**TINY, "model.encoder": str(encoder)},
                                      fixed=frozenset({"f."}))
    assert not hasattr(model, "decoder")
    final, _, _ = read_weights(tmp_path / "resumed")
    assert all(torch.equal(final[k], v) for k, v in expected.items())
    encoder.unlink()
    out = Translator.load(tmp_path / "resumed", device="cpu").translate(torch.rand(3, 32, 32))
    assert out.shape == (3, 32, 32)


def test_wrong_encoder_files_name_the_option(tmp_path, unpaired_dir):
    cfg = tiny_config("dtn", unpaired_dir, **{**TINY, "model.encoder": str(tmp_path / "missing.safetensors")})
    with pytest.raises(PairlessError, match="--encoder"):
        train(cfg, tmp_path / "missing", quiet=True)
    other = build_model(RunConfig.defaults("dtn").override({"size": 32, "width": 8, "feature_dim": 8}))
    save_file({k: v.contiguous() for k, v in other.f.state_dict().items()}, tmp_path / "wide.safetensors")
    cfg = tiny_config("dtn", unpaired_dir, **{**TINY, "model.encoder": str(tmp_path / "wide.safetensors")})
    with pytest.raises(PairlessError, match="--width 4"):
        train(cfg, tmp_path / "wide", quiet=True)


def test_dtn_needs_an_encoder_source():
    with pytest.raises(PairlessError, match="--pretrain-steps"):
        RunConfig.defaults("dtn").override({"pretrain_steps": 0})


def test_gray_target_domain_goes_through_the_colour_encoder():
    model = build_model(RunConfig.defaults("dtn").override({"size": 32, "width": 4, "feature_dim": 8,
                                                            "channels_b": 1}))
    assert model.transfer(torch.rand(2, 1, 32, 32)).shape == (2, 1, 32, 32)
