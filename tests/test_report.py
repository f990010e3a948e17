"""`pairless report RUN`: a self-contained HTML page with curves, samples and the evaluation table."""

import json

import pytest

from pairless.cli import main
from pairless.data.synthetic import make_synthetic_dataset
from pairless.errors import PairlessError
from pairless.report import read_metrics, write_report
from pairless.train.loop import train
from tests.conftest import tiny_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")


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
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "G": 1.0}) + "\n{broken\n"
                                            + json.dumps({"step": 3, "G": 1.0}) + "\n")
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


def test_a_line_cut_off_by_a_killed_run_is_skipped_with_a_warning(tmp_path):
    lines = [json.dumps({"step": 1, "G": 1.0}), json.dumps({"step": 2, "G": 0.5}), '{"step": 3, "G": 0.2']
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines))
    with pytest.warns(UserWarning, match="line 3: cut off"):
        scalars, _ = read_metrics(tmp_path)
    assert scalars["losses"]["G"] == [(1, 1.0), (2, 0.5)]


@pytest.mark.parametrize("line", ["[1, 2]", "3", "null", '{"G": 1.0}', '{"step": "abc"}', '{"step": 1, "eval": [1]}'])
def test_a_metrics_line_that_is_json_but_not_a_record_is_named(tmp_path, line):
    (tmp_path / "metrics.jsonl").write_text(f'{{"step": 1, "G": 1.0}}\n{line}\n{{"step": 3, "G": 1.0}}\n')
    with pytest.raises(PairlessError, match="metrics.jsonl, line 2: not the record of a log step"):
        read_metrics(tmp_path)


def eval_line(step, **metrics):
    return json.dumps({"step": step, "eval": metrics}) + "\n"


def test_the_report_states_the_best_and_the_last_evaluation_with_their_steps(tmp_path):
    from pairless.config import RunConfig

    (tmp_path / "metrics.jsonl").write_text(
        eval_line(2, fid=5.0, kid=0.02, kid_std=0.001, psnr=20.0) + eval_line(4, fid=3.0, kid=0.03, kid_std=0.002,
                                                                             psnr=19.0)
        + eval_line(6, fid=4.0, kid=0.01, kid_std=0.001, psnr=21.0))
    RunConfig.defaults("cut").override({"data.root": "d", "train.eval_every": 2, "train.eval_images": "all",
                                        "train.eval_features": "inception", "train.eval_metric": "fid",
                                        "train.eval_size": 256}).save(tmp_path / "config.yaml")
    page = write_report(tmp_path).read_text()
    assert "<tr><td>FID (Inception) ↓</td><td>3.0000 (4)</td><td>4.0000 (6)</td></tr>" in page
    assert "<tr><td>KID (Inception) ↓</td><td>0.01000 (6)</td><td>0.01000 (6)</td></tr>" in page
    assert "<tr><td>PSNR (dB) ↑</td><td>21.00 (6)</td><td>21.00 (6)</td></tr>" in page
    assert "kid_std" not in page
    assert ("Every 2 steps: all translated test images against those of the target domain at 256 px, FID/KID "
            "in Inception features and the local scores; "
            "best.safetensors is the evaluation with the best fid (lower is better).") in page


def test_best_and_last_keeps_the_earliest_of_equal_values_and_knows_which_way_is_better():
    from pairless.report import BestAndLast, best_and_last

    assert best_and_last([(1, 3.0), (2, 2.0), (3, 2.0), (4, 5.0)], "fid") == BestAndLast(2, 2.0, 4, 5.0)
    assert best_and_last([(1, 0.5), (2, 0.9), (3, 0.7)], "ssim") == BestAndLast(2, 0.9, 3, 0.7)
    assert best_and_last([(7, 1.0)], "l1") == BestAndLast(7, 1.0, 7, 1.0)


def test_a_trained_runs_report_has_the_best_and_last_table(evaluated_run):
    write_report(evaluated_run)
    page = (evaluated_run / "report" / "report.html").read_text()
    _, evals = read_metrics(evaluated_run)
    best = min(evals["fid_local"], key=lambda item: item[1])
    section = page.split("Evaluation during training: best and last")[1]
    assert f"({best[0]})</td><td>" in section.split("FID-local ↓</td>")[1].split("</tr>")[0]
    assert "up to 4 translated test images against those of the target domain at 32 px, the local scores" in page
