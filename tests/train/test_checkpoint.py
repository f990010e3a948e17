import pytest
import torch

from pairless.errors import PairlessError
from pairless.train.checkpoint import atomic_write, load_model, read_weights, resolve_checkpoint
from pairless.train.loop import train
from tests.conftest import tiny_config


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write(tmp_path / "a" / "x.bin", b"123")
    atomic_write(tmp_path / "a" / "x.bin", b"456")
    assert (tmp_path / "a" / "x.bin").read_bytes() == b"456"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.bin"]


def test_run_folder_layout_and_pruning(tmp_path, unpaired_dir):
    cfg = tiny_config("cut", unpaired_dir, **{"train.steps": 6, "train.save_every": 1, "train.keep_last": 2})
    train(cfg, tmp_path / "run", quiet=True)
    run = tmp_path / "run"
    names = sorted(p.name for p in run.iterdir())
    assert {"config.yaml", "latest.safetensors", "latest.state.pt", "metrics.jsonl", "samples",
            "checkpoints"} <= set(names)
    assert any(n.startswith("events.out.tfevents") for n in names)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step_00000005.safetensors", "step_00000005.state.pt",
        "step_00000006.safetensors", "step_00000006.state.pt"]
    tensors, config, step = read_weights(run)
    assert step == 6 and config.model.width == 8 and config.train.steps == 6
    assert set(tensors) == set(load_model(run)[0].state_dict())


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"garbage")
    with pytest.raises(PairlessError, match="cannot read checkpoint"):
        read_weights(tmp_path / "x.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(PairlessError, match="not a pairless checkpoint"):
        read_weights(tmp_path / "other.safetensors")
    with pytest.raises(PairlessError, match="checkpoint not found"):
        resolve_checkpoint(tmp_path / "missing.safetensors")
    with pytest.raises(PairlessError, match="has no latest.safetensors"):
        resolve_checkpoint(tmp_path)


def test_refuses_to_overwrite_a_run_and_to_resume_mismatched_files(tmp_path, unpaired_dir):
    cfg = tiny_config("cut", unpaired_dir, **{"train.steps": 2, "train.keep_last": 0})
    train(cfg, tmp_path / "run", quiet=True)
    with pytest.raises(PairlessError, match="already holds a run"):
        train(cfg, tmp_path / "run", quiet=True)
    state = torch.load(tmp_path / "run" / "latest.state.pt", weights_only=True)
    state["step"] = 1
    torch.save(state, tmp_path / "run" / "latest.state.pt")
    with pytest.raises(PairlessError, match="from step 2 but latest.state.pt from step 1"):
        train(cfg.override({"train.steps": 4}), tmp_path / "run", resume=True, quiet=True)


def test_weights_that_do_not_fit_the_model_are_a_one_line_error(tmp_path):
    """E.g. a U-GAT-IT checkpoint from before its TensorFlow-style biases: the config builds layers the
    file lacks."""
    from pairless.config import RunConfig
    from pairless.train.checkpoint import build_model, load_weights

    cfg = RunConfig.defaults("ugatit-light").override({"size": 32, "width": 2, "n_blocks": 1})
    model = build_model(cfg)
    tensors = {k: v for k, v in model.state_dict().items() if not k.endswith("gamma_beta.gamma.bias")}
    with pytest.raises(PairlessError, match=r"old.safetensors does not fit .*missing G_AB.gamma_beta.gamma.bias"):
        load_weights(model, tensors, tmp_path / "old.safetensors")
    resized = {**model.state_dict(), "G_AB.gamma_beta.gamma.bias": torch.zeros(3)}
    with pytest.raises(PairlessError, match="size mismatch for G_AB.gamma_beta.gamma.bias"):
        load_weights(model, resized, tmp_path / "old.safetensors")
