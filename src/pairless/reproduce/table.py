"""The written result of a reproduction (OUT/reproduction.md and .json), and the list of rows that
`pairless reproduce --list` prints."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

from pairless.config import SECTIONS, RunConfig
from pairless.errors import writing
from pairless.options_help import OPTION_NAMES
from pairless.report import BestAndLast, best_and_last, read_metrics
from pairless.reproduce.rows import ROWS, Row

TABLE, RECORD = "reproduction.md", "reproduction.json"


@dataclass(frozen=True)
class Outcome:
    row: Row
    run_dir: Path
    step: int
    total_steps: int
    stop_signal: int
    """The signal that stopped training before its end (0: none)."""
    command: str
    train_command: str
    smoke: bool
    evaluations: int
    summary: BestAndLast | None
    """Best and last evaluation of the row's metric, on pairless's scale (None: no evaluation yet)."""

    @classmethod
    def read(cls, row: Row, run_dir: Path, step: int, total_steps: int, stop_signal: int, command: str,
             train_command: str, smoke: bool) -> Outcome:
        """The outcome as the run folder's metrics.jsonl records it."""
        series = read_metrics(run_dir)[1].get(row.metric, [])
        summary = best_and_last(series, row.metric) if series else None
        return cls(row, run_dir, step, total_steps, stop_signal, command, train_command, smoke, len(series), summary)

    def value(self, value: float) -> str:
        """A value on the paper's scale (four significant digits)."""
        return f"{value * self.row.scale:.4g}"

    @property
    def state(self) -> str:
        if self.step >= self.total_steps:
            return f"finished at step {self.step:,}"
        return f"stopped at step {self.step:,} of {self.total_steps:,}: the same command continues it"


def write_outcome(outcome: Outcome) -> list[Path]:
    """reproduction.md and reproduction.json beside the run folder; their paths."""
    out = outcome.run_dir.parent
    with writing(out):
        (out / TABLE).write_text(markdown(outcome))
        (out / RECORD).write_text(json.dumps(record(outcome), indent=2) + "\n")
    return [out / TABLE, out / RECORD]


def markdown(outcome: Outcome) -> str:
    row, summary = outcome.row, outcome.summary
    best = f"{outcome.value(summary.best_value)} ({summary.best_step:,})" if summary else "no evaluation yet"
    last = f"{outcome.value(summary.last_value)} ({summary.last_step:,})" if summary else "-"
    title = f"# {row.id}: {row.method} on {row.data.name}" + (" (smoke run)" if outcome.smoke else "")
    lines = [title, ""]
    if outcome.smoke:
        lines += ["A smoke run checks the row's path (two steps at 32 px on generated data); its numbers say "
                  "nothing about the paper's.", ""]
    lines += [
        f"| {row.label} | paper | best (step) | last (step) |", "|---|---|---|---|",
        f"| {row.data.name} | {row.paper} ({row.paper_source}) | {best} | {last} |", "",
        f"Run: `{outcome.run_dir}`, {outcome.state}; {outcome.evaluations} evaluation(s); best.safetensors holds "
        f"the best one; curves of every evaluation: `pairless report {outcome.run_dir}`.", "",
        f"Command: `{outcome.command}`", "", f"Same as: `{outcome.train_command}`", "",
        f"Data: {row.data.layout}. Source: {row.data.source}.", "",
        "## Protocol", "", "| choice | pairless | the paper's, from |", "|---|---|---|",
        *(f"| {c.topic} | {c.ours} | {c.source} |" for c in row.protocol), "",
        f"What to expect: {row.expect}.", "",
    ]
    return "\n".join(lines)


def record(outcome: Outcome) -> dict:
    summary, scale = outcome.summary, outcome.row.scale
    return {
        "row": outcome.row.id, "metric": outcome.row.metric, "scale": scale, "paper": float(outcome.row.paper),
        "paper_source": outcome.row.paper_source,
        "best": {"step": summary.best_step, "value": summary.best_value * scale} if summary else None,
        "last": {"step": summary.last_step, "value": summary.last_value * scale} if summary else None,
        "evaluations": outcome.evaluations, "step": outcome.step, "total_steps": outcome.total_steps,
        "command": outcome.command, "train_command": outcome.train_command, "data_source": outcome.row.data.source,
        "smoke": outcome.smoke,
    }


def train_command(cfg: RunConfig, preset: str | None, run_dir: Path) -> str:
    """The `pairless train` command line that sets up the same run: every setting that differs from the
    method's defaults (with its preset), as an option."""
    base = RunConfig.defaults(cfg.method, preset)
    parts = ["pairless train", f"--model {cfg.method}", *([f"--preset {preset}"] if preset else [])]
    for section in SECTIONS:
        ours, theirs = getattr(cfg, section), getattr(base, section)
        for spec in fields(ours):
            value = getattr(ours, spec.name)
            if value != getattr(theirs, spec.name):
                parts.append(option(spec.name, value))
    return " ".join([*parts, f"--out {run_dir}"])


def option(name: str, value: object) -> str:
    flag = "--" + OPTION_NAMES.get(name, name.replace("_", "-"))
    if isinstance(value, bool):
        return flag if value else flag.replace("--", "--no-", 1)
    if isinstance(value, tuple):
        return f"{flag} {','.join(map(str, value))}"
    return f"{flag} {'none' if value is None else value}"


def list_text() -> str:
    """One line per row: its name, the paper's value, the data set, where the value is printed."""
    width = max(len(row.id) for row in ROWS)
    lines = [f"{'row':{width}s}  {'paper':>13s}  {'data set':12s}  source"]
    lines += [f"{row.id:{width}s}  {row.label + ' ' + row.paper:>13s}  {row.data.name:12s}  "
              f"{row.paper_source}" for row in ROWS]
    return "\n".join(lines) + "\n"
