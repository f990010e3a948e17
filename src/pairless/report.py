"""`pairless report RUN`: one self-contained HTML page (plus the PNG figures) about a training run:
loss, diagnostic and evaluation curves, sample grids over time, and the evaluation table."""

from __future__ import annotations

import base64
import html
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pairless.errors import PairlessError, writing
from pairless.metrics_file import read_records
from pairless.ranking import LOWER_IS_BETTER, RANKED_METRICS, is_better

BOOKKEEPING = {"step", "lr", "it_per_s"}
MAX_SAMPLE_GRIDS = 6
NOTHING_LOGGED = ("<h2>Curves</h2><p>Nothing is logged yet: the run stopped before its first log step "
                  "(losses are logged every --log-every iterations).</p>")


def read_metrics(run_dir: Path) -> tuple[dict[str, dict[str, list]], dict[str, list]]:
    """metrics.jsonl -> ({group: {name: [(step, value)]}} of logged scalars, {metric: [(step, value)]} of evals).

    Scalars named `group/name` (e.g. `diag/...`) form their own group; the others are losses.
    """
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise PairlessError(f"{run_dir} has no metrics.jsonl: is it a pairless run folder?")
    scalars: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    evals: dict[str, list] = defaultdict(list)
    for record in read_records(path):
        step = record["step"]
        for name, value in record.get("eval", {}).items():
            evals[name].append((step, value))
        for name, value in record.items():
            if name in BOOKKEEPING or not isinstance(value, (int, float)):
                continue
            group, _, short = name.rpartition("/")
            scalars[group or "losses"][short].append((step, value))
    return scalars, evals


def plot_curves(series: dict[str, list], title: str, path: Path) -> Path:
    """One small panel per series (their scales differ), written as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(series)
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 2.8 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):  # the last row may have empty axes
        steps, values = zip(*series[name], strict=True)
        ax.plot(steps, [float(v) for v in values], marker="." if len(steps) < 30 else None, linewidth=1.2)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def pick_sample_grids(run_dir: Path, limit: int = MAX_SAMPLE_GRIDS) -> list[Path]:
    """Evenly spaced sample grids from the first to the last."""
    grids = sorted((run_dir / "samples").glob("step_*.png"))
    if len(grids) <= limit:
        return grids
    return [grids[round(i * (len(grids) - 1) / (limit - 1))] for i in range(limit)]


def evaluation_tables(run_dir: Path) -> list[tuple[str, dict]]:
    """(title, metrics) of each `pairless evaluate` result saved under the run folder."""
    tables = []
    for path in sorted(run_dir.glob("eval/**/eval.json")):
        try:
            result = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise PairlessError(f"{path} is not valid JSON; run `pairless evaluate` again") from None
        settings = result.get("settings", {})
        title = (f"{path.parent.relative_to(run_dir)}: step {result.get('step')}, {result.get('translated_images')} "
                 f"{settings.get('split', '')} images {settings.get('direction', '')}, "
                 f"{settings.get('size')} px, features {settings.get('features')}")
        tables.append((title, result["metrics"]))
    return tables


def _embed(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.name)}">'


def _table(metrics: dict) -> str:
    from pairless.eval.evaluate import metric_rows

    rows = "".join(f"<tr><td>{html.escape(label)}</td><td>{html.escape(value)}</td></tr>"
                   for label, value in metric_rows(metrics))
    return f"<table>{rows}</table>"


@dataclass(frozen=True)
class BestAndLast:
    """A metric's best evaluation during training and its last one: the two numbers a paper comparison needs
    (papers tend to report the best, a run ends with the last)."""

    best_step: int
    best_value: float
    last_step: int
    last_value: float


def best_and_last(series: list[tuple[int, float]], metric: str) -> BestAndLast:
    """Of a metric's evaluations in step order; among equal values the earliest is the best, as
    best.safetensors keeps it."""
    best_step, best_value = series[0]
    for step, value in series[1:]:
        if is_better(metric, value, best_value):
            best_step, best_value = step, value
    last_step, last_value = series[-1]
    return BestAndLast(best_step, best_value, last_step, last_value)


def _best_and_last_table(evals: dict[str, list]) -> str:
    """metric | best (step) | last (step), for every metric evaluated; best only where better is defined."""
    from pairless.eval.evaluate import METRIC_LABELS, format_metric

    rows = ["<tr><th>metric</th><th>best (step)</th><th>last (step)</th></tr>"]
    for name in [*METRIC_LABELS, *sorted(evals.keys() - METRIC_LABELS.keys())]:
        if name not in evals or name.endswith("_std"):
            continue
        summary = best_and_last(evals[name], name) if name in RANKED_METRICS else None
        last_step, last_value = evals[name][-1]
        best = (f"{format_metric(name, summary.best_value)} ({summary.best_step})" if summary else "-")
        cells = [METRIC_LABELS.get(name, name), best, f"{format_metric(name, last_value)} ({last_step})"]
        rows.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    return f"<table>{''.join(rows)}</table>"


def _eval_protocol(run_dir: Path) -> str:
    """How the run evaluated itself, from its config (what to compare a paper's protocol with)."""
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        return "The evaluations in metrics.jsonl (config.yaml, which says how they were made, is missing)."
    from pairless.config import RunConfig

    cfg = RunConfig.load(config_path)
    t = cfg.train
    compared = (f"generated images against the real ones of {t.eval_reference}" if t.eval_reference
                else "translated test images against those of the target domain")
    amount = "all" if t.eval_images == "all" else f"up to {t.eval_images}"
    images = f"{amount} {compared}"
    features = "FID/KID in Inception features and the local scores" if t.eval_features == "inception" else \
        "the local scores"
    direction = "lower" if t.eval_metric in LOWER_IS_BETTER else "higher"
    return (f"Every {t.eval_every} steps: {images} at {t.eval_size or cfg.data.size} px, {features}; "
            f"best.safetensors is the evaluation with the best {t.eval_metric} ({direction} is better).")


STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
img{max-width:100%;border:1px solid #ddd;margin:.3em 0}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.25em .7em}td:last-child{text-align:right;font-family:monospace}
h2{margin-top:1.6em;border-bottom:1px solid #eee}.muted{color:#777}"""


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write report.html and its PNG figures into out_dir (default RUN/report); returns the HTML path."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "report"
    scalars, evals = read_metrics(run_dir)
    config = _run_summary(run_dir)
    with writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
    figures = [plot_curves(series, group, out_dir / f"{group.replace('/', '_')}.png")
               for group, series in sorted(scalars.items())]
    numeric_evals = {k: v for k, v in evals.items() if not k.endswith("_std")}
    if numeric_evals:
        figures.append(plot_curves(numeric_evals, "evaluation during training", out_dir / "eval.png"))
    parts = [f"<h1>pairless run: {html.escape(run_dir.name)}</h1>", f'<p class="muted">{html.escape(config)}</p>']
    for title, metrics in evaluation_tables(run_dir):
        parts += [f"<h2>Evaluation</h2><p>{html.escape(title)}</p>", _table(metrics)]
    if evals:
        parts += [f"<h2>Evaluation during training: best and last</h2><p>{html.escape(_eval_protocol(run_dir))}</p>",
                  _best_and_last_table(evals)]
    parts += ["<h2>Curves</h2>", *(_embed(path) for path in figures)] if figures else [NOTHING_LOGGED]
    grids = pick_sample_grids(run_dir)
    if grids:
        parts.append("<h2>Samples over time</h2>")
        for grid in grids:
            parts += [f"<p>{html.escape(grid.stem.replace('_', ' '))}</p>", _embed(grid)]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(run_dir.name)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
    path = out_dir / "report.html"
    with writing(path):
        path.write_text(page)
    return path


def _run_summary(run_dir: Path) -> str:
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        return str(run_dir)
    from pairless.config import RunConfig

    cfg = RunConfig.load(config_path)
    return (f"{cfg.method} on {cfg.data.root}, {cfg.train.steps} steps, batch {cfg.train.batch_size}, "
            f"{cfg.data.size} px, lr {cfg.train.lr}, seed {cfg.train.seed}")
