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
    with open(tmp_path / "bench.csv") as f:
        assert [r["model"] for r in csv.DictReader(f)] == ["input unchanged", "cut", "cyclegan"]
    assert "| shapes | cut | 2 |" in (tmp_path / "bench.md").read_text()
    assert (tmp_path / "shapes" / "cyclegan" / "config.yaml").read_text().count("pool_size: 2") == 1
    weights = tmp_path / "shapes" / "cut" / "latest.safetensors"
    before = weights.stat().st_mtime_ns
    cut_only = {k: v for k, v in TINY.items() if k != "pool-size"}
    again = run_bench(["shapes"], ["cut"], steps=2, out=tmp_path, size=32, width=8, count=4, device="cpu",
                      options=cut_only, log=lambda _: None)
    assert weights.stat().st_mtime_ns == before  # a finished run is not trained again
    assert again[1]["l1"] == rows[1]["l1"]


def test_an_option_no_model_has_is_an_error(tmp_path):
    with pytest.raises(PairlessError, match="did you mean 'lambda_nce'"):
        run_bench(["shapes"], ["cut"], steps=1, out=tmp_path, options={"lambda-nc": "2"}, log=lambda _: None)
