"""Training faults that used to hang, mix two runs or train on NaN (issue 25): each ends at once with one
`error:` line, exit code 2, and nothing lost."""

import math
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from pairless.checkpoint import build_model, load_model, prune_checkpoints, read_checkpoint, save_checkpoint
from pairless.data.synthetic import make_synthetic_dataset
from pairless.errors import PairlessError
from pairless.train.loop import train
from tests.conftest import tiny_config

TINY = ["--size", "32", "--width", "8", "--n-blocks", "5", "--num-patches", "16", "--head-dim", "16",
        "--device", "cpu"]


@pytest.fixture(scope="module")
def stripes(tmp_path_factory):
    return make_synthetic_dataset("stripes", tmp_path_factory.mktemp("faults") / "d", count=6, test_count=2,
                                  size=32, seed=1)


def pairless(*args):
    return [sys.executable, "-m", "pairless", *map(str, args)]


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_an_error_in_a_data_loader_worker_ends_the_run_at_once(stripes, tmp_path):
    """Workers ignore SIGTERM (so that a stop request saves cleanly); Python's exit used to wait for them
    forever after the error line. Default --workers (2), a corrupt image found by a worker."""
    data = tmp_path / "d"
    shutil.copytree(stripes, data)
    corrupt = data / "trainA" / "000001.png"
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    start = time.monotonic()
    done = subprocess.run(pairless("train", "--model", "cut", "--data", data, "--steps", "30", "--out",
                                   tmp_path / "run", "--quiet", *TINY), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "000001.png" in one_error_line(done.stderr)
    assert time.monotonic() - start < 30


def wait_for(path, process, seconds=60):
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.2)


def test_one_run_folder_one_process_and_a_killed_holder_does_not_block(stripes, tmp_path):
    run = tmp_path / "run"
    first = subprocess.Popen(pairless("train", "--model", "cut", "--data", stripes, "--steps", "100000", "--out",
                                      run, "--save-every", "1", "--workers", "0", "--quiet", *TINY),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(run / "latest.state.pt", first)
        for second in (pairless("train", "--model", "dclgan", "--data", stripes, "--steps", "2", "--out", run,
                                "--quiet", *TINY[:4], "--device", "cpu"),
                       pairless("train", "--resume", run, "--steps", "200000", "--quiet")):
            done = subprocess.run(second, capture_output=True, text=True, timeout=120)
            assert done.returncode == 2
            assert f"is in use by pairless process {first.pid}" in one_error_line(done.stderr)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    assert (run / ".pairless.lock").exists()  # left behind by the killed process
    steps = torch.load(run / "latest.state.pt", weights_only=True)["step"]
    resumed = subprocess.run(pairless("train", "--resume", run, "--steps", steps + 1, "--quiet"),
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert not (run / ".pairless.lock").exists()


def test_non_finite_losses_stop_the_run_before_a_checkpoint_holds_them(stripes, tmp_path):
    done = subprocess.run(pairless("train", "--model", "cut", "--data", stripes, "--steps", "20", "--out",
                                   tmp_path / "run", "--lr", "1e30", "--save-every", "2", "--workers", "0",
                                   "--quiet", *TINY), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert "training diverged: loss" in line and "is nan" in line and "--lr 1e+30" in line
    assert not (tmp_path / "run" / "latest.safetensors").exists()


def test_a_checkpoint_saved_before_divergence_is_kept(stripes, tmp_path):
    cfg = tiny_config("cut", stripes, **{"train.steps": 2, "train.save_every": 1})
    train(cfg, tmp_path / "run", quiet=True)
    cfg = cfg.override({"train.steps": 8, "train.lr": 1e30, "train.log_every": 4})
    kept = r"diverged: loss \w+ is nan over step 3; .* the last checkpoint .*step 2\) is kept"
    with pytest.raises(PairlessError, match=kept):
        train(cfg, tmp_path / "run", resume=True, quiet=True)
    assert read_checkpoint(tmp_path / "run").step == 2
    load_model(tmp_path / "run")  # finite weights


def test_a_checkpoint_with_non_finite_weights_is_refused(stripes, tmp_path):
    cfg = tiny_config("cyclegan", stripes).resolved()
    model = build_model(cfg)
    with torch.no_grad():
        model.G_AB.layers[1].weight[0, 0, 0, 0] = math.nan
    weights = save_checkpoint(tmp_path / "run", model, cfg, 3, {}, keep_last=0)
    with pytest.raises(PairlessError, match=r"holds weights that are not finite \(G_AB.layers.1.weight\)"):
        load_model(weights)


@pytest.mark.parametrize("method", ["cut", "fastcut", "dclgan", "cyclegan", "dualgan", "discogan", "dtn"])
def test_crops_too_small_for_the_networks_name_the_smallest(stripes, tmp_path, method):
    smallest = 32 if method in ("dualgan", "discogan", "dtn") else 24
    cfg = tiny_config(method, stripes, **{"data.size": 16, "data.load_size": 16})
    if method == "dualgan":
        cfg = cfg.override({"model.depth": 4})
    with pytest.raises(PairlessError, match=rf"--size 16 is too small for {method}.* at least {smallest} px"):
        train(cfg, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


def test_deep_discriminators_and_resumed_small_crops_are_refused_up_front(stripes, tmp_path):
    with pytest.raises(PairlessError, match=r"at least 3072 px .*fewer --d-layers \(10\)"):
        train(tiny_config("cut", stripes, **{"model.d_layers": 10}), tmp_path / "deep", quiet=True)
    cfg = tiny_config("cut", stripes, **{"train.steps": 1})
    train(cfg, tmp_path / "run", quiet=True)
    smaller = cfg.override({"train.steps": 2, "data.size": 16, "data.load_size": 16})
    with pytest.raises(PairlessError, match="--size 16 is too small for cut"):
        train(smaller, tmp_path / "run", resume=True, quiet=True)


def test_a_stale_lock_file_alone_does_not_make_a_folder_unusable(stripes, tmp_path):
    """A folder that holds only a lock file left by a killed process is a fresh run folder."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".pairless.lock").write_text(f"{os.getpid() + 99999}\n")
    result = train(tiny_config("cut", stripes, **{"train.steps": 1}), tmp_path / "run", quiet=True)
    assert result.step == 1


def test_a_kill_between_the_two_latest_writes_resumes_exactly_from_the_step_numbered_pair(stripes, tmp_path):
    """`latest.safetensors` is written before `latest.state.pt`: a process killed between them leaves
    the pair from two steps; resume takes the complete step-numbered pair written just before."""
    cfg = tiny_config("cut", stripes, **{"train.steps": 3, "train.save_every": 1, "train.log_every": 1})
    train(cfg, tmp_path / "whole", quiet=True)
    train(cfg, tmp_path / "run", quiet=True)
    shutil.copy(tmp_path / "run" / "checkpoints" / "step_00000002.state.pt", tmp_path / "run" / "latest.state.pt")
    with pytest.warns(UserWarning, match=r"latest.safetensors is from step 3 but .*latest.state.pt from step 2 .*"
                                         r"resuming from .*step_00000003.safetensors"):
        result = train(cfg.override({"train.steps": 4}), tmp_path / "run", resume=True, quiet=True)
    assert result.step == 4
    whole = train(cfg.override({"train.steps": 4}), tmp_path / "whole", resume=True, quiet=True)
    assert whole.step == 4
    for key, value in read_checkpoint(tmp_path / "whole").tensors.items():
        assert torch.equal(value, read_checkpoint(tmp_path / "run").tensors[key]), key


def test_a_torn_latest_pair_without_step_numbered_copies_is_refused_by_name(stripes, tmp_path):
    cfg = tiny_config("cut", stripes, **{"train.steps": 2, "train.save_every": 1, "train.keep_last": 0})
    train(cfg.override({"train.steps": 1}), tmp_path / "run", quiet=True)
    state = (tmp_path / "run" / "latest.state.pt").read_bytes()
    train(cfg, tmp_path / "run", resume=True, quiet=True)
    (tmp_path / "run" / "latest.state.pt").write_bytes(state)
    with pytest.raises(PairlessError, match=r"latest.safetensors is from step 2 but .*latest.state.pt from step 1, "
                                            r"and checkpoints/ holds no complete pair"):
        train(cfg.override({"train.steps": 3}), tmp_path / "run", resume=True, quiet=True)


@pytest.mark.parametrize("lost", ["latest.state.pt", "latest.safetensors"])
def test_a_kill_during_the_first_save_leaves_a_run_that_resumes(stripes, tmp_path, lost):
    """The first save writes checkpoints/step_* before latest.*: a process killed in between leaves a
    run folder whose only complete save is the step-numbered pair. It resumes from it; a new run is
    refused there, so that pair is never mixed into another run."""
    cfg = tiny_config("cut", stripes, **{"train.steps": 1, "train.save_every": 1})
    train(cfg, tmp_path / "run", quiet=True)
    (tmp_path / "run" / "latest.state.pt").unlink()
    if lost == "latest.safetensors":
        (tmp_path / "run" / "latest.safetensors").unlink()
    with pytest.raises(PairlessError, match="already holds a run; resume it"):
        train(cfg, tmp_path / "run", quiet=True)
    with pytest.warns(UserWarning, match=rf"{lost} is missing .*resuming from .*step_00000001.safetensors"):
        result = train(cfg.override({"train.steps": 2}), tmp_path / "run", resume=True, quiet=True)
    assert result.step == 2 and read_checkpoint(tmp_path / "run").step == 2


def test_step_numbered_checkpoints_are_ordered_by_step_beyond_eight_digits(tmp_path):
    for step in (99_999_999, 100_000_000, 100_000_001):
        for suffix in (".safetensors", ".state.pt"):
            (tmp_path / f"step_{step:08d}{suffix}").write_bytes(b"")
    prune_checkpoints(tmp_path, keep_last=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step_100000000.safetensors", "step_100000000.state.pt", "step_100000001.safetensors",
        "step_100000001.state.pt"]
