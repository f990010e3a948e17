"""The command line through its real entry points (`python -m pairless` and the `pairless` script)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TINY_CUT = ["--size", "32", "--width", "8", "--n-blocks", "5", "--num-patches", "16", "--head-dim", "16",
            "--workers", "0", "--device", "cpu", "--quiet"]


def run(*args, check=True, timeout=300):
    result = subprocess.run([sys.executable, "-m", "pairless", *map(str, args)], capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def assert_user_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "stripes"
    result = run("data", "synth", "stripes", out, "--count", "6", "--size", "32", "--test-count", "3")
    assert "wrote the 'stripes' data set" in result.stdout
    return out


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("pairless")
    result = subprocess.run([str(script), "models"], capture_output=True, text=True)
    assert result.returncode == 0 and "cut" in result.stdout and "cyclegan" in result.stdout


def test_synth_layout_and_refusal_to_overwrite(synth):
    assert sorted(p.name for p in synth.iterdir()) == ["synth.json", "testA", "testA_gt", "testB", "trainA",
                                                       "trainB"]
    assert len(list((synth / "trainA").iterdir())) == 6
    assert_user_error(run("data", "synth", "stripes", synth, check=False), str(synth))
    assert_user_error(run("data", "synth", "zebras", synth.parent / "z", check=False), "unknown task")


def test_train_resume_translate(synth, tmp_path):
    run_dir = tmp_path / "run"
    result = run("train", "--model", "cut", "--data", synth, "--out", run_dir, "--steps", "3", *TINY_CUT)
    assert "trained cut at step 3/3" in result.stdout
    config = (run_dir / "config.yaml").read_text()
    assert "width: 8" in config and "steps: 3" in config
    run("train", "--resume", run_dir, "--steps", "5", "--quiet")
    assert [json.loads(x)["step"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()][-1] == 5
    out = tmp_path / "translated"
    result = run("translate", run_dir / "latest.safetensors", synth / "testA", "--out", out)
    assert "translated 3 image(s)" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["000000.png", "000001.png", "000002.png"]


def test_user_errors_are_one_line_with_exit_code_2(synth, tmp_path):
    assert_user_error(run("train", "--model", "cut", "--data", tmp_path / "nope", "--out", tmp_path / "r",
                          check=False), "data folder not found", "--data")
    assert_user_error(run("train", "--model", "cut", "--data", synth, "--out", tmp_path / "r",
                          "--lamda-nce", "2", check=False), "did you mean 'lambda_nce'")
    assert_user_error(run("train", "--model", "cutt", "--data", synth, "--out", tmp_path / "r", check=False),
                      "unknown model 'cutt'", "did you mean 'cut'")
    assert_user_error(run("train", "--data", synth, check=False), "--model is required")
    assert_user_error(run("translate", tmp_path / "missing.safetensors", synth, "--out", tmp_path / "o",
                          check=False), "checkpoint not found")
    assert_user_error(run("train", "--model", "cut", "--data", synth, "--out", tmp_path / "r", "--size",
                          "big", check=False), "size")
    assert_user_error(run("train", "--resume", tmp_path / "none", check=False), "cannot resume")


def test_corrupt_image_during_training_names_the_file(synth, tmp_path):
    data = tmp_path / "data"
    for folder in synth.iterdir():
        if folder.is_dir():
            (data / folder.name).mkdir(parents=True)
            for f in folder.iterdir():
                (data / folder.name / f.name).write_bytes(f.read_bytes())
    first = sorted((data / "trainA").iterdir())[0]
    first.write_bytes(first.read_bytes()[:120])  # header survives the up-front scan, pixels do not
    args = ["train", "--model", "cut", "--data", data, "--steps", "8", "--serial", *TINY_CUT]
    assert_user_error(run(*args, "--out", tmp_path / "r1", check=False), first.name, "--skip-bad-images")
    skipped = run(*args, "--out", tmp_path / "r2", "--skip-bad-images")
    assert "trained cut at step 8/8" in skipped.stdout and first.name in skipped.stderr
    warnings = [line for line in skipped.stderr.splitlines() if "skipping" in line]
    assert warnings and all(line.startswith(f"warning: skipping: cannot read image {first}") for line in warnings)
    assert "UserWarning" not in skipped.stderr and "warn" not in skipped.stderr.replace("warning:", "")


def signal_once_logging(args, run_dir: Path, signum: int, whole_group: bool = False, wait: float = 120):
    """Start `pairless ARGS`, wait until run_dir/metrics.jsonl has a record, send `signum` (with `whole_group`,
    to the process and its data-loader workers) and return its exit code and standard error."""
    process = subprocess.Popen([sys.executable, "-m", "pairless", *map(str, args)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=whole_group)
    metrics, deadline = run_dir / "metrics.jsonl", time.time() + wait
    while not metrics.is_file() or not metrics.read_text():
        assert time.time() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.2)
    if whole_group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def test_ctrl_c_saves_and_the_run_resumes(synth, tmp_path):
    run_dir = tmp_path / "run"
    code, stderr = signal_once_logging(["train", "--model", "cut", "--data", synth, "--out", run_dir, "--steps",
                                        "100000", "--log-every", "1", *TINY_CUT], run_dir, signal.SIGINT)
    assert code == 130, stderr
    assert "Continue with: pairless train --resume" in stderr and "Traceback" not in stderr
    state = run_dir / "latest.state.pt"
    assert state.is_file() and not any(p.name.startswith(".") for p in run_dir.iterdir())
    import torch

    stopped_at = torch.load(state, weights_only=True)["step"]
    run("train", "--resume", run_dir, "--steps", str(stopped_at + 2), "--quiet")
    assert torch.load(state, weights_only=True)["step"] == stopped_at + 2


def test_sigterm_to_the_whole_process_group_saves_like_ctrl_c(synth, tmp_path):
    """`kill`, `timeout`, `docker stop`, a scheduler: SIGTERM, here also to the data-loader workers."""
    run_dir = tmp_path / "run"
    code, stderr = signal_once_logging(["train", "--model", "cut", "--data", synth, "--out", run_dir, "--steps",
                                        "100000", "--log-every", "1", *TINY_CUT, "--workers", "1"], run_dir,
                                       signal.SIGTERM, whole_group=True)
    assert code == 143, stderr
    assert "Continue with: pairless train --resume" in stderr and "Traceback" not in stderr
    import torch

    stopped_at = torch.load(run_dir / "latest.state.pt", weights_only=True)["step"]
    assert stopped_at > 0 and f"stopped at step {stopped_at}/100000" in stderr
    assert not any(p.name.startswith(".") for p in run_dir.iterdir())


def test_output_paths_of_the_wrong_kind_are_one_line_errors(synth, tmp_path, capsys):
    from pairless.cli import main

    run_dir = tmp_path / "run"
    run("train", "--model", "cut", "--data", synth, "--out", run_dir, "--steps", "1", *TINY_CUT)
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    commands = [
        (["train", "--model", "cut", "--data", str(synth), "--out", str(a_file), *TINY_CUT],
         f"--out {a_file} is a file"),
        (["translate", str(run_dir), str(synth / "testA"), "--out", str(a_file)], f"--out {a_file} is a file"),
        (["export", str(run_dir), "--out", str(tmp_path)], f"--out {tmp_path} is a folder; name the file"),
        (["export", str(run_dir), "--out", str(a_file / "m.onnx")], f"{a_file} is a file, not a folder"),
        (["report", str(run_dir), "--out", str(a_file)], f"cannot write {a_file}: {a_file} is a file"),
    ]
    for argv, message in commands:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
        assert message in err
    assert a_file.read_text() == "mine"


def test_sigterm_to_the_demo_saves_and_exits_with_the_signals_code(tmp_path):
    out = tmp_path / "demo"
    code, stderr = signal_once_logging(["demo", "--out", out, "--steps", "100000", "--device", "cpu"], out / "run",
                                       signal.SIGTERM, whole_group=True, wait=300)
    assert code == 143, stderr
    assert "Continue with: pairless train --resume" in stderr and "Traceback" not in stderr
    assert (out / "run" / "latest.state.pt").is_file() and not (out / "scores.json").exists()


def test_demo_runs_end_to_end_with_a_small_budget(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run([sys.executable, "-m", "pairless", "demo", "--out", str(out), "--steps", "10",
                             "--device", "cpu"], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    scores = json.loads((out / "scores.json").read_text())
    assert scores["steps"] == 10 and scores["translated"]["count"] == scores["input_unchanged"]["count"] > 0
    assert "L1 to ground truth" in result.stdout and str(out / "scores.json") in result.stdout
    assert (out / "run" / "latest.safetensors").is_file() and any((out / "translated").iterdir())
    assert_user_error(subprocess.run([sys.executable, "-m", "pairless", "demo", "--out", str(tmp_path)],
                                     capture_output=True, text=True), "not a pairless demo folder")


def models_output(capsys, *args) -> str:
    """`pairless models ...` in this process (each subprocess would import torch anew)."""
    from pairless.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["models", *args])
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_models_shows_the_recipe_and_presets(capsys):
    contra = models_output(capsys, "contragan")
    assert "# recipe:" in contra and "5 step(s) per generator step, each on a fresh batch of real images" in contra
    assert "--steps and the learning-rate schedule count generator steps" in contra
    assert "#   cifar10-paper: " in contra and "\nmethod: contragan\n" in contra
    paper = models_output(capsys, "contragan", "--preset", "cifar10-paper")
    assert "backbone: biggan" in paper and "random horizontal flips" in paper
    dcl = models_output(capsys, "dclgan")
    assert "image pool: none" in dcl and "while the learning rate decays, the whole image resized to 256 px" in dcl
    assert "image pool: the last 50 generated images" in models_output(capsys, "dclgan", "--preset", "paper-text")
    assert "2 critic step(s) per generator step" in models_output(capsys, "dualgan")


def test_an_unknown_preset_is_a_one_line_error(synth, tmp_path):
    assert_user_error(run("train", "--model", "cut", "--data", synth, "--out", tmp_path / "r", "--preset",
                          "paper-text", check=False), "unknown --preset 'paper-text' for cut")


def test_one_option_parser_for_values_switches_and_negations():
    from pairless.cli import parse_options
    from pairless.errors import PairlessError

    switches = {"flip", "nce_idt"}.__contains__
    assert parse_options(["--lr", "0.1", "--size=64", "--flip", "--no-nce_idt", "--width", "8"], switches) == {
        "lr": "0.1", "size": "64", "flip": "true", "nce_idt": "false", "width": "8"}
    with pytest.raises(PairlessError, match="needs a value"):
        parse_options(["--lr"], switches)
    with pytest.raises(PairlessError, match="only applies to on/off options"):
        parse_options(["--no-lr"], switches)
    with pytest.raises(PairlessError, match="unexpected argument 'x'"):
        parse_options(["x"], switches)


def test_demo_settings_and_out_are_checked_before_any_work(tmp_path):
    """--steps 0 used to train the default 3,000 steps; an --out that is a file ended in a traceback."""
    assert_user_error(run("demo", "--steps", "0", "--out", tmp_path / "demo", check=False),
                      "--steps must be at least 1")
    assert not (tmp_path / "demo").exists()
    (tmp_path / "file").write_text("mine")
    assert_user_error(run("demo", "--out", tmp_path / "file", check=False), "is a file")
    assert (tmp_path / "file").read_text() == "mine"


def test_the_data_folder_is_kept_absolute_and_tilde_is_expanded(synth, tmp_path, monkeypatch):
    """config.yaml keeps where the data is, so the run finds it from any folder (resume, evaluate)."""
    monkeypatch.setenv("HOME", str(synth.parent))
    run_dir = tmp_path / "run"
    run("train", "--model", "cut", "--data", f"~/{synth.name}", "--out", run_dir, "--steps", "1", *TINY_CUT)
    import yaml

    assert yaml.safe_load((run_dir / "config.yaml").read_text())["data"]["root"] == str(synth.resolve())


def test_train_help_groups_the_options_with_their_defaults(capsys):
    from pairless.cli import main

    def shown(*args):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", *args, "--help"])
        assert exit_info.value.code == 0
        return capsys.readouterr().out

    shared = shown()
    for group in ("run:", "data:", "schedule:", "logging:", "checkpoints:", "evaluation:", "speed:"):
        assert f"\n{group}\n" in shared, group
    for option in ("--lr [0.0002]", "--log-every [50]", "--save-every [1000]", "--eval-every [0]", "--workers [2]",
                   "--batch-size [1]", "--init "):
        assert option in shared, option
    assert "add --model NAME" in shared and "--lambda-nce" not in shared
    cut = shown("--model", "cut")
    assert "cut options:" in cut and "--lambda-nce [1.0]" in cut and "--nce-layers [0,4,8,12,16]" in cut
    assert "--model.init [xavier]" in cut and "--epochs [400]" in cut
    fastcut = shown("--model", "fastcut")
    assert "--lambda-nce [10.0]" in fastcut and "--epochs [200]" in fastcut
    assert "--pool-size [50]" in shown("--model", "dclgan", "--preset", "paper-text")


def test_translating_a_folder_shows_a_progress_bar_with_the_time_left(synth, tmp_path):
    from pairless.checkpoint import build_model, save_checkpoint
    from pairless.config import RunConfig

    cfg = RunConfig.defaults("cyclegan").override({"size": 32, "width": 4, "n_blocks": 1}).resolved()
    save_checkpoint(tmp_path / "run", build_model(cfg), cfg, 0, {}, keep_last=0)
    done = subprocess.run([sys.executable, "-m", "pairless", "translate", str(tmp_path / "run"), str(synth / "testA"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "FORCE_COLOR": "1", "COLUMNS": "100"})
    assert done.returncode == 0, done.stderr
    assert "translate" in done.stderr and "3/3" in done.stderr and "0:00:0" in done.stderr
