"""`pairless report RUN`: a self-contained HTML page with curves, samples and the evaluation table."""

import json

import pytest

from pairless.cli import main
from pairless.data.synthetic import make_synthetic_dataset
from pairless.report import read_metrics, write_report
from pairless.train.loop import train
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    data = make_synthetic_dataset("hue", root / "hue", count=6, test_count=4, size=32)
    run_dir = root / "run"
    train(tiny_config("cut", data, **{"train.steps": 4, "train.log_every": 1, "train.sample_every": 2,
                                      "train.eval_every": 2, "train.eval_images": 4}), run_dir, quiet=True)
    with pytest.raises(SystemExit):
        main(["evaluate", str(run_dir), "--data", str(data), "--features", "local", "--size", "32"])
    return run_dir


def test_metrics_are_grouped_into_losses_and_evaluations(evaluated_run):
    scalars, evals = read_metrics(evaluated_run)
    assert [step for step, _ in scalars["losses"]["nce"]] == [1, 2, 3, 4]
    assert [step for step, _ in evals["fid_local"]] == [2, 4]


def test_report_is_one_self_contained_page(evaluated_run, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(evaluated_run)])
    assert exit_info.value.code == 0
    page = (evaluated_run / "report" / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') >= 4  # losses, eval curves, two sample grids
    assert "src=\"http" not in page and "FID-local" in page and "step_00000004" in page
    assert "test_AtoB" in page  # the evaluate result's table
    assert (evaluated_run / "report" / "losses.png").stat().st_size > 1000
    assert (evaluated_run / "report" / "eval.png").is_file()
    assert str(evaluated_run / "report" / "report.html") in capsys.readouterr().out


def test_report_of_a_folder_without_metrics_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "metrics.jsonl" in capsys.readouterr().err


def test_a_corrupt_metrics_line_is_named(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "G": 1.0}) + "\n{broken\n")
    with pytest.raises(Exception, match="line 2"):
        write_report(tmp_path)


def test_a_run_stopped_before_its_first_log_step_gets_a_page_that_says_so(tmp_path, unpaired_dir, capsys):
    run_dir = tmp_path / "run"
    train(tiny_config("cut", unpaired_dir, **{"train.steps": 4, "train.log_every": 2}), run_dir, quiet=True,
          stop_at=1)
    assert (run_dir / "metrics.jsonl").read_text() == ""
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(run_dir)])
    assert exit_info.value.code == 0, capsys.readouterr().err
    page = (run_dir / "report" / "report.html").read_text()
    assert "Nothing is logged yet: the run stopped before its first log step" in page
