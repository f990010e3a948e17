import errno
import json

import pytest
import torch

from pairless import checkpoint
from pairless.checkpoint import atomic_write, load_model, read_weights, resolve_checkpoint
from pairless.errors import PairlessError
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


def no_space_after(calls: int):
    """An os.fsync that works `calls` times, then fails as on a full disk."""
    remaining = [calls]

    def fsync(fd):
        remaining[0] -= 1
        if remaining[0] < 0:
            raise OSError(errno.ENOSPC, "No space left on device")

    return fsync


def test_a_full_disk_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    atomic_write(tmp_path / "x.bin", b"old")
    monkeypatch.setattr(checkpoint.os, "fsync", no_space_after(0))
    with pytest.raises(PairlessError, match=r"^no space left writing .*x.bin$"):
        atomic_write(tmp_path / "x.bin", b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"] and (tmp_path / "x.bin").read_bytes() == b"old"


def test_a_full_disk_during_training_stops_with_the_last_checkpoint_intact(tmp_path, unpaired_dir, monkeypatch):
    cfg = tiny_config("cut", unpaired_dir, **{"train.steps": 4, "train.save_every": 2, "train.keep_last": 0})
    run = tmp_path / "run"
    train(cfg, run, quiet=True, stop_at=2)
    saved = run.joinpath("latest.safetensors").read_bytes()
    monkeypatch.setattr(checkpoint.os, "fsync", no_space_after(0))
    with pytest.raises(PairlessError, match="no space left writing .*latest.safetensors"):
        train(cfg, run, resume=True, quiet=True)
    assert run.joinpath("latest.safetensors").read_bytes() == saved and read_weights(run)[2] == 2
    assert not [p.name for p in run.rglob(".*")]  # no temporary file left behind


def test_refuses_an_out_folder_holding_other_files(tmp_path, unpaired_dir):
    cfg = tiny_config("cut", unpaired_dir, **{"train.steps": 1})
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.yaml").write_text("my own settings\n")
    (mine / "notes.txt").write_text("keep me\n")
    with pytest.raises(PairlessError, match=r"is not empty and not a pairless run \(it holds config.yaml, notes.txt\)"
                                            r".*choose a new folder, e.g. --out .*mine/run$"):
        train(cfg, mine, quiet=True)
    assert (mine / "config.yaml").read_text() == "my own settings\n" and len(list(mine.iterdir())) == 2
    with pytest.raises(PairlessError, match="notes.txt is a file; a run needs a folder of its own"):
        train(cfg, mine / "notes.txt", quiet=True)
    with pytest.raises(PairlessError, match=r"cannot write .*notes.txt/run: .*notes.txt is a file, not a folder"):
        train(cfg, mine / "notes.txt" / "run", quiet=True)


def test_a_run_stopped_before_its_first_checkpoint_can_start_again(tmp_path, unpaired_dir):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.yaml", "metrics.jsonl"):  # what a run writes before its first checkpoint
        (run / name).write_text("")
    train(tiny_config("cut", unpaired_dir, **{"train.steps": 1}), run, quiet=True)
    assert read_weights(run)[2] == 1


def test_weights_that_do_not_fit_the_model_are_a_one_line_error(tmp_path):
    """E.g. a U-GAT-IT checkpoint from before its TensorFlow-style biases: the config builds layers the
    file lacks."""
    from pairless.checkpoint import build_model, load_weights
    from pairless.config import RunConfig

    cfg = RunConfig.defaults("ugatit-light").override({"size": 32, "width": 2, "n_blocks": 1})
    model = build_model(cfg)
    tensors = {k: v for k, v in model.state_dict().items() if not k.endswith("gamma_beta.gamma.bias")}
    with pytest.raises(PairlessError, match=r"old.safetensors does not fit .*missing G_AB.gamma_beta.gamma.bias"):
        load_weights(model, tensors, tmp_path / "old.safetensors")
    resized = {**model.state_dict(), "G_AB.gamma_beta.gamma.bias": torch.zeros(3)}
    with pytest.raises(PairlessError, match="size mismatch for G_AB.gamma_beta.gamma.bias"):
        load_weights(model, resized, tmp_path / "old.safetensors")


@pytest.mark.parametrize("damage, message", [
    ({"config": "{not json"}, "its config is not JSON"), ({"config": "[1, 2]"}, "its config is a list, not a dict"),
    ({"step": "abc"}, "its step is 'abc', not a number"), ({"networks": "{}"}, "its networks is a dict, not a list")])
def test_damaged_checkpoint_metadata_is_a_one_line_error(tmp_path, damage, message):
    from safetensors.torch import save_file

    from pairless.checkpoint import build_model

    cfg = tiny_config("cut", tmp_path).resolved()
    tensors = {k: v.contiguous() for k, v in build_model(cfg).state_dict().items()}
    metadata = {"format": "pairless/1", "config": json.dumps(cfg.to_dict()), "step": "1"}
    save_file(tensors, tmp_path / "damaged.safetensors", metadata=metadata | damage)
    with pytest.raises(PairlessError, match=rf"damaged.safetensors is damaged: {message}"):
        load_model(tmp_path / "damaged.safetensors")
