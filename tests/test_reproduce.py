"""`pairless reproduce`: the rows and their protocol, the cost counted up front, the refusal of a missing or
misshapen data set, the table, and a smoke run of every row on the CPU."""

import json
import re
import shlex
from functools import partial
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from pairless.checkpoint import build_model, read_weights
from pairless.cli import main, parse_options
from pairless.config import RunConfig
from pairless.errors import PairlessError
from pairless.models.registry import method_names
from pairless.ranking import is_better
from pairless.reproduce import run as reproduction
from pairless.reproduce.cost import iteration_cost, training_batch
from pairless.reproduce.rows import ROWS, find_row
from pairless.reproduce.run import Request, check_layout, epoch_images, row_config
from pairless.reproduce.table import train_command
from pairless.train.loop import train
from pairless.train.optim import Optimizers
from tests.conftest import SHARED_DATA, shared_folder, tiny_conditional, tiny_config, write_images

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TOPICS = ("test images", "size and resize", "features", "checkpoint", "recipe")


def cli(*args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code


def test_every_row_is_a_registered_method_with_its_protocol_sourced():
    assert len({row.id for row in ROWS}) == len(ROWS)
    for row in ROWS:
        assert row.method in method_names(), row.id
        assert tuple(choice.topic for choice in row.protocol) == TOPICS, row.id
        assert all(choice.ours and choice.source for choice in row.protocol), row.id
        assert row.eval_every > 0 and row.data.source and row.data.layout, row.id


def test_every_paper_value_is_one_of_methods_md():
    methods = shared_folder(SHARED_DATA.parent, "the method facts") / "methods.md"
    published = {float(number) for number in re.findall(r"\d+\.\d+", methods.read_text())}
    for row in ROWS:
        assert float(row.paper) in published, row.id


def test_list_prints_every_row_with_its_paper_value(capsys):
    assert cli("reproduce", "--list") == 0
    printed = capsys.readouterr().out
    for row in ROWS:
        assert re.search(rf"^{re.escape(row.id)}\s+{re.escape(row.label)} {re.escape(row.paper)}\s", printed, re.M)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_the_train_command_written_in_the_table_sets_up_the_same_run(row, tmp_path):
    data = tmp_path / "data"
    cfg = row_config(row, data, row.data.epoch_images, Request(row, data, tmp_path / "out"))
    words = shlex.split(train_command(cfg, row.preset, tmp_path / "out" / "run"))[2:]
    control, settings = split_run_control(words)
    assert control["model"] == row.method and control["out"] == str(tmp_path / "out" / "run")
    rebuilt = RunConfig.defaults(row.method, control.get("preset"))
    options = parse_options(settings, rebuilt.is_switch) | {"data": control["data"]}
    assert rebuilt.override(rebuilt.option_overrides(options)).to_dict() == cfg.to_dict()


def split_run_control(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """`pairless train`'s own options (--model, --preset, --out, --data) apart from the config options."""
    control, settings, i = {}, [], 0
    while i < len(words):
        if words[i] in ("--model", "--preset", "--out", "--data"):
            control[words[i][2:]] = words[i + 1]
            i += 2
        else:
            settings.append(words[i])
            i += 1
    return control, settings


def test_the_protocol_is_the_papers(tmp_path):
    cut = find_row("cut-horse2zebra")
    cfg = row_config(cut, tmp_path, 1334, Request(cut, tmp_path, tmp_path / "out"))
    t = cfg.train
    assert (t.eval_images, t.eval_features, t.eval_metric, t.eval_size) == ("all", "inception", "fid", 256)
    assert t.eval_every == 5 * 1334 and t.epochs == 400 and cfg.data.size == 256
    ugatit = find_row("ugatit-selfie2anime")
    assert row_config(ugatit, tmp_path, 3400, Request(ugatit, tmp_path, tmp_path)).train.eval_metric == "kid"
    contragan = find_row("contragan-cifar10")
    cfg = row_config(contragan, tmp_path, 50000, Request(contragan, tmp_path, tmp_path))
    assert cfg.data.root == str(tmp_path / "train") and cfg.train.eval_reference == str(tmp_path / "test")
    assert cfg.train.steps == 80_000 and cfg.train.eval_every == 2000 and cfg.model.backbone == "biggan"
    cityscapes = find_row("cut-cityscapes")
    assert row_config(cityscapes, tmp_path, 2975, Request(cityscapes, tmp_path, tmp_path)).data.direction == "BtoA"


@pytest.mark.parametrize(("method", "make"), [("cut", tiny_config), ("contragan", tiny_conditional)])
def test_flops_counted_on_the_meta_device_are_those_of_a_real_step(method, make, tmp_path):
    cfg = make(method, tmp_path)
    if method == "contragan":
        cfg = cfg.override({"model.num_classes": 3, "model.image_size": 32, "data.size": 32})
    torch.manual_seed(0)
    model = build_model(cfg)
    with FlopCounterMode(display=False) as counter:
        model.train_step(training_batch(cfg), Optimizers(model, cfg.train, "cpu", "fp32"))
    cost = iteration_cost(cfg)
    assert cost.flops == counter.get_total_flops() > 0
    assert iteration_cost(cfg, "cpu") == cost
    assert cost.state_bytes >= 4 * sum(p.numel() * 4 for p in model.parameters() if p.requires_grad)
    assert cost.saved_bytes > 0
    assert cost.gpu_hours(3600, 1.0) == pytest.approx(cost.flops / 1e12)


def test_the_needs_are_said_up_front_and_a_missing_data_set_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli("reproduce", "cut-horse2zebra", "--out", out) == 2
    printed = capsys.readouterr()
    assert printed.err.startswith("error: --data is required: cut-horse2zebra needs horse2zebra: trainA/")
    assert printed.err.count("\n") == 1
    assert "533,600 iterations" in printed.out and "GPU hours" in printed.out and "GB of tensors" in printed.out
    assert "download_cut_dataset.sh horse2zebra" in printed.out
    assert cli("reproduce", "cut-horse2zebra", "--data", tmp_path / "nowhere", "--out", out) == 2
    assert f"--data {tmp_path / 'nowhere'}: folder not found" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(("folders", "message"), [
    ({"trainA": 2, "trainB": 2, "testA": 2}, "no testB/ folder"),
    ({"trainA": 2, "trainB": 2, "testA": 0, "testB": 2}, "testA/ holds no images"),
])
def test_a_misshapen_data_set_is_refused_naming_the_folder(folders, message, tmp_path, capsys):
    data = tmp_path / "data"
    for name, count in folders.items():
        write_images(data / name, count)
        (data / name).mkdir(exist_ok=True)
    assert cli("reproduce", "cut-horse2zebra", "--data", data, "--out", tmp_path / "out") == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: --data {data}: {message}; cut-horse2zebra needs ") and error.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("folders", "message"), [
    ({"train/a": 2, "train/b": 2}, "no test/ folder"),
    ({"train/a": 2, "test/a": 2, "test/b": 1}, "train/ holds 1 class folder(s) with images"),
])
def test_a_labelled_data_set_needs_class_folders_in_train_and_test(folders, message, tmp_path):
    for name, count in folders.items():
        write_images(tmp_path / name, count)
    with pytest.raises(PairlessError, match=f"^--data {re.escape(str(tmp_path))}: {re.escape(message)}; "):
        check_layout(find_row("contragan-cifar10"), tmp_path)


def test_options_that_cannot_work_are_refused(tmp_path, capsys):
    assert cli("reproduce", "cut-horse2zebra", "--smoke", "--data", tmp_path, "--out", tmp_path / "o") == 2
    assert "--smoke makes its own tiny data set" in capsys.readouterr().err
    assert cli("reproduce", "cut-horse2zebra", "--data", tmp_path, "--out", tmp_path / "o", "--tflops", "0") == 2
    assert "--tflops must be positive" in capsys.readouterr().err
    assert cli("reproduce", "cut-horse2zebr", "--out", tmp_path / "o") == 2
    assert "did you mean cut-horse2zebra?" in capsys.readouterr().err


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_smoke_run_of_every_row(row, inception_weights, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli("reproduce", row.id, "--smoke", "--out", out, "--inception-weights", inception_weights) == 0
    record = json.loads((out / "reproduction.json").read_text())
    logged = [(r["step"], r["eval"][row.metric]) for r in map(json.loads, (out / "run" / "metrics.jsonl").open())
              if "eval" in r]
    assert [step for step, _ in logged] == [1, 2] and record["evaluations"] == 2
    best_step, best_value = logged[0] if not is_better(row.metric, logged[1][1], logged[0][1]) else logged[1]
    assert record["best"] == {"step": best_step, "value": pytest.approx(best_value * row.scale)}
    assert record["last"] == {"step": 2, "value": pytest.approx(logged[1][1] * row.scale)}
    assert read_weights(out / "run" / "best.safetensors")[2] == best_step
    assert record["row"] == row.id and record["paper"] == float(row.paper) and record["step"] == 2
    cfg = RunConfig.load(out / "run" / "config.yaml")
    assert (cfg.method, cfg.train.eval_features, cfg.train.eval_images) == (row.method, "inception", "all")
    for key, value in row.overrides.items():
        section, name = key.split(".")
        assert getattr(getattr(cfg, section), name) == value, key
    table = (out / "reproduction.md").read_text()
    assert f"| {row.data.name} | {row.paper} ({row.paper_source}) |" in table
    assert f"Same as: `pairless train --model {row.method}" in table and row.data.source in table
    assert "GPU hours" in capsys.readouterr().out


def test_the_same_command_continues_a_stopped_reproduction(inception_weights, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    arguments = ("reproduce", "cyclegan-horse2zebra", "--smoke", "--out", out, "--inception-weights",
                 inception_weights)
    with monkeypatch.context() as patch:
        patch.setattr(reproduction, "train", partial(train, stop_at=1))
        assert cli(*arguments) == 0
    record = json.loads((out / "reproduction.json").read_text())
    assert (record["step"], record["total_steps"], record["evaluations"]) == (1, 2, 1)
    assert "stopped at step 1 of 2: the same command continues it" in (out / "reproduction.md").read_text()
    assert cli(*arguments) == 0
    assert f"continuing {out / 'run'}" in capsys.readouterr().out
    record = json.loads((out / "reproduction.json").read_text())
    assert (record["step"], record["evaluations"], record["last"]["step"]) == (2, 2, 2)


def test_a_run_folder_of_another_method_is_not_continued(inception_weights, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli("reproduce", "cyclegan-horse2zebra", "--smoke", "--out", out, "--inception-weights",
               inception_weights) == 0
    assert cli("reproduce", "cut-horse2zebra", "--smoke", "--out", out) == 2
    assert "holds a cyclegan run, not cut-horse2zebra's cut" in capsys.readouterr().err


def test_epoch_images_are_counted_from_the_folder(tmp_path):
    for name, count in {"trainA": 3, "trainB": 5}.items():
        write_images(tmp_path / name, count)
    assert epoch_images(find_row("cut-horse2zebra"), tmp_path) == 5
    assert epoch_images(find_row("cut-horse2zebra"), None) == 1334


def test_the_paper_values_are_in_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Reproducing the papers"):]
    for row in ROWS:
        assert f"`{row.id}`" in section and f"| {row.paper} |" in section, row.id
