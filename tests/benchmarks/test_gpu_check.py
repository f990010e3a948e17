"""benchmarks/gpu_check.sh --smoke: the GPU check's code runs end to end on the CPU and writes its outputs
(so the script cannot rot between the rare runs on a GPU). Nothing here is timed."""

import json
import os
import subprocess
import sys

import torch

from tests.benchmarks.conftest import load_script
from tests.conftest import PROJECT_ROOT


def test_gpu_check_smoke_writes_every_result(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", str(PROJECT_ROOT / "benchmarks" / "gpu_check.sh"), "--smoke"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "gpu_check.json").read_text())
    steps = results["step_time"]
    assert {(r["model"], r["variant"]) for r in steps} == {
        (m, v) for m in ("cut", "fastcut", "dclgan", "simdcl", "cyclegan", "ugatit-light", "ugatit")
        for v in ("fast", "plain fp32 eager")}
    assert all("error" not in r and r["s_per_iter"] > 0 for r in steps + results["throughput"])
    assert {(r["model"], r["batch"]) for r in results["throughput"]} == {("cut", 2), ("fastcut", 2)}
    run = results["cut_run"]
    assert run["steps"] >= 2 and 0 <= run["domain_score"] <= 1
    assert (tmp_path / "cut_run_samples.png").stat().st_size > 0
    assert "## Step time" in (tmp_path / "gpu_check.md").read_text()
    assert "domain_score" in (tmp_path / "gpu_check.log").read_text()
    assert not (tmp_path / "scratch").exists()


def test_a_run_stopped_before_its_first_sample_grid_still_gives_its_row(tmp_path, monkeypatch):
    """On a busy CPU (or at the end of a GPU lease) the timed CUT run can be stopped before its only sample
    grid: the check still reports the run (and writes every result as soon as it exists)."""
    gpu_check = load_script("gpu_check")
    real_train = gpu_check.train
    monkeypatch.setattr(gpu_check, "train", lambda cfg, run_dir, quiet: real_train(cfg, run_dir, quiet=quiet,
                                                                                   stop_at=1))
    s = gpu_check.Settings(smoke=True)
    scratch = tmp_path / "scratch"
    data = gpu_check.data_for_run(s, tmp_path / "absent", scratch, log=lambda text: None)
    results = gpu_check.Results(tmp_path, {"device": "cpu", "torch": "x", "date": "today", "smoke": True}, s)
    row = results.add("cut_run", gpu_check.timed_run(s, data, tmp_path, scratch, torch.device("cpu"),
                                                     log=lambda text: None))
    assert row["steps"] == 1 and row["planned_steps"] > 1 and row["grid"].startswith("none")
    assert 0 <= row["domain_score"] <= 1
    assert json.loads((tmp_path / "gpu_check.json").read_text())["cut_run"]["steps"] == 1
    assert "## CUT for" in (tmp_path / "gpu_check.md").read_text()
