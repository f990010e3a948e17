import csv

import pytest

from pairless.bench import run_bench
from pairless.errors import PairlessError

TINY = {"n-blocks": "5", "num-patches": "16", "head-dim": "16", "pool-size": "2", "workers": "0",
        "device": "cpu"}


def test_two_models_on_one_task_write_one_table_and_resume(tmp_path):
    rows = run_bench(["shapes"], ["cut", "cyclegan"], steps=2, out=tmp_path, size=32, width=8, count=4,
                     device="cpu", options=TINY, log=lambda _: None)
    assert [r["model"] for r in rows] == ["input unchanged", "cut", "cyclegan"]
    assert all(r["l1"] > 0 for r in rows)
    assert all(r["fid_local"] >= 0 and 0 <= r["domain_score"] <= 1 and r["diversity"] >= 0 for r in rows)
    assert all(r["diversity_pixels"] > 0 for r in rows)
    with open(tmp_path / "bench.csv") as f:
        assert [r["model"] for r in csv.DictReader(f)] == ["input unchanged", "cut", "cyclegan"]
    table = (tmp_path / "bench.md").read_text()
    assert "| shapes | cut | 0 | 2 |" in table and "| diversity | diversity (pixels) |" in table
    assert (tmp_path / "shapes" / "cyclegan-seed0" / "config.yaml").read_text().count("pool_size: 2") == 1
    weights = tmp_path / "shapes" / "cut-seed0" / "latest.safetensors"
    before = weights.stat().st_mtime_ns
    cut_only = {k: v for k, v in TINY.items() if k != "pool-size"}
    again = run_bench(["shapes"], ["cut"], steps=2, out=tmp_path, size=32, width=8, count=4, device="cpu",
                      options=cut_only, log=lambda _: None)
    assert weights.stat().st_mtime_ns == before  # a finished run is not trained again
    assert again[1]["l1"] == rows[1]["l1"]


def _weights(run_dir):
    from safetensors.torch import load_file

    return {name: tensor.sum().item() for name, tensor in load_file(run_dir / "latest.safetensors").items()}


def test_several_training_seeds_give_a_row_each_and_a_summary(tmp_path):
    options = {k: v for k, v in TINY.items() if k != "pool-size"}
    rows = run_bench(["shapes"], ["cut"], steps=2, out=tmp_path, size=32, width=8, count=4, device="cpu",
                     options=options, log=lambda _: None, seeds=[3, 4])
    assert [(r["model"], r["seed"]) for r in rows] == [("input unchanged", ""), ("cut", 3), ("cut", 4)]
    assert "train:\n" in (tmp_path / "shapes" / "cut-seed4" / "config.yaml").read_text()
    assert "seed: 4" in (tmp_path / "shapes" / "cut-seed4" / "config.yaml").read_text()
    assert _weights(tmp_path / "shapes" / "cut-seed3") != _weights(tmp_path / "shapes" / "cut-seed4")
    summary = (tmp_path / "bench.md").read_text().split("Over training seeds")[1]
    mean_l1 = (rows[1]["l1"] + rows[2]["l1"]) / 2
    assert f"| shapes | cut | 2 | {mean_l1:.4f} ({max(rows[1]['l1'], rows[2]['l1']):.4f}) |" in summary


def test_an_option_no_model_has_is_an_error(tmp_path):
    with pytest.raises(PairlessError, match="did you mean 'lambda_nce'"):
        run_bench(["shapes"], ["cut"], steps=1, out=tmp_path, options={"lambda-nc": "2"}, log=lambda _: None)


def test_a_data_folder_without_ground_truth_gets_distribution_scores_only(unpaired_dir, tmp_path, capsys):
    from pairless.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--data", str(unpaired_dir), "--models", "cut", "--steps", "2", "--size", "32",
              "--width", "8", "--out", str(tmp_path), *[f"--{k}={v}" for k, v in TINY.items() if k != "pool-size"]])
    assert exit_info.value.code == 0
    with open(tmp_path / "bench.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["task"], r["model"]) for r in rows] == [("data", "input unchanged"), ("data", "cut")]
    assert all(r["l1"] == "" and float(r["fid_local"]) >= 0 and float(r["kid_local"]) > -1 for r in rows)
    assert "| data | cut | 0 | 2 | – | – | – |" in capsys.readouterr().out
    assert len(list((tmp_path / "data" / "cut-seed0" / "translated").iterdir())) == 3


def test_a_data_folder_missing_a_split_is_named(tmp_path):
    (tmp_path / "set" / "trainA").mkdir(parents=True)
    with pytest.raises(PairlessError, match="set: no trainB/, testA/, testB/"):
        run_bench([], ["cut"], steps=1, out=tmp_path / "out", data=[tmp_path / "set"], log=lambda _: None)


def test_data_sets_with_the_same_name_are_refused(tmp_path):
    for parent in ("one", "two"):
        for split in ("trainA", "trainB", "testA", "testB"):
            (tmp_path / parent / "shapes" / split).mkdir(parents=True)
    with pytest.raises(PairlessError, match="two data sets are named 'shapes'"):
        run_bench([], ["cut"], steps=1, out=tmp_path / "out", data=[tmp_path / "one" / "shapes",
                                                                    tmp_path / "two" / "shapes"], log=lambda _: None)


@pytest.mark.parametrize("models, steps, message", [
    (["cut", "acgan"], 10, "--models acgan: acgan generates images of classes"),
    (["sincut"], 10, "--models sincut: sincut trains on one image per domain"),
    (["cut"], 0, "--steps must be at least 1, got 0")])
def test_what_bench_cannot_run_is_refused_before_any_work(tmp_path, models, steps, message):
    with pytest.raises(PairlessError, match=message):
        run_bench(["stripes"], models, steps, tmp_path / "out", size=32, width=4, count=4)
    assert not (tmp_path / "out").exists()
