"""What a user watches during training: progress bar, TensorBoard scalars and images, PNG sample grids,
and a `metrics.jsonl` with the logged losses (one JSON object per log step)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import Tensor
from torchvision.utils import make_grid

from pairless.checkpoint import atomic_write
from pairless.data.images import save_image
from pairless.train.health import TrainingHealth

MIN_TILE = 128
"""Small images are enlarged (nearest neighbour) in grids so that they can be seen."""


def sample_grid(rows: list[dict[str, Tensor]]) -> Tensor:
    """One image per sample and row group, its columns side by side; values [-1, 1] -> [0, 1], RGB."""
    columns = max(len(row) for row in rows)
    tiles = []
    for row in rows:
        images = [image.float().cpu() for image in row.values()]
        for i in range(images[0].shape[0]):
            tiles += [_rgb(image[i]) for image in images]
            tiles += [torch.zeros_like(tiles[-1])] * (columns - len(images))
    stacked = torch.stack(tiles)
    scale = -(-MIN_TILE // min(stacked.shape[-2:]))
    if scale > 1:
        stacked = F.interpolate(stacked, scale_factor=scale, mode="nearest")
    return make_grid(stacked, nrow=columns, padding=2, pad_value=1.0)


def _rgb(image: Tensor) -> Tensor:
    image = (image.clamp(-1, 1) + 1) / 2
    return image.expand(3, -1, -1) if image.shape[0] == 1 else image


def drop_records_after(path: Path, step: int) -> None:
    """On resume, forget what was logged after the checkpoint: those steps run again and are logged again."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if _logged_step(line) <= step]
    if len(kept) < len(lines):
        atomic_write(path, "".join(kept).encode())


def _logged_step(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
        return 0


class Monitor:
    """Owns the run folder's logs. Loss tensors are accumulated on the device and read back only at
    log steps, so training does not synchronise with the host every iteration."""

    def __init__(self, run_dir: Path, start_step: int, total_steps: int, quiet: bool = False,
                 health: TrainingHealth | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = run_dir
        self.writer = SummaryWriter(str(run_dir))
        drop_records_after(run_dir / "metrics.jsonl", start_step)
        self.metrics_file = open(run_dir / "metrics.jsonl", "a")
        self.sums: dict[str, Tensor] = {}
        self.count = 0
        self.last: dict[str, float] = {}
        self.logged_step = start_step
        """The last log step: the losses summed since then are those of the steps after it."""
        self.last_window = (start_step, start_step)
        """The first and last step whose losses `last` averages."""
        self.console = Console(stderr=True, soft_wrap=True)
        self.quiet = quiet
        self.health = health or TrainingHealth(())
        self.announced: set[str] = set()
        self.progress = None
        self.started = time.perf_counter()
        self.start_step = start_step
        self.total_steps = total_steps
        if self.console.is_terminal and not quiet:
            self.progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                     TextColumn("{task.fields[losses]}"), console=self.console)
            self.task = self.progress.add_task("train", total=total_steps, completed=start_step,
                                               rate="", losses="")
            self.progress.start()

    def add_losses(self, losses: dict[str, Tensor]) -> None:
        """Sum on the device, all losses in one multi-tensor add (the first of each is copied, since the
        sums are then added to in place)."""
        values = {name: value.detach().float() for name, value in losses.items()}
        known = [name for name in values if name in self.sums]
        if known:
            torch._foreach_add_([self.sums[name] for name in known], [values[name] for name in known])
        for name in values.keys() - self.sums.keys():
            self.sums[name] = values[name].clone()
        self.count += 1

    def mean_losses(self) -> dict[str, float]:
        """The mean of each loss since the last log step (read from the device)."""
        return {name: float(total) / self.count for name, total in self.sums.items()} if self.count else {}

    def log(self, step: int, lr: float, scalars: dict[str, float] | None = None) -> None:
        """Write the mean losses since the last log step (step = iterations completed) and `scalars`
        measured now (e.g. `diag/...` diagnostics), which TensorBoard shows under their own names."""
        if not self.count:
            return
        scalars = scalars or {}
        self.last = self.mean_losses()
        self.last_window = (self.logged_step + 1, step)
        self.sums, self.count, self.logged_step = {}, 0, step
        for name, value in self.last.items():
            self.writer.add_scalar(f"loss/{name}", value, step)
        self.writer.add_scalar("lr", lr, step)
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, step)
        self.health.update_losses(step, self.last)
        warnings = self._warnings(step)
        elapsed = time.perf_counter() - self.started
        rate = (step - self.start_step) / elapsed if elapsed > 0 else 0.0
        record: dict[str, Any] = {"step": step, "lr": lr, "it_per_s": round(rate, 3), **self.last, **scalars}
        if warnings:
            record["warnings"] = warnings
        self.metrics_file.write(json.dumps(record) + "\n")
        self.metrics_file.flush()
        summary = " ".join(f"{k} {v:.3f}" for k, v in self.last.items())
        if warnings:
            summary += "  ⚠ " + ", ".join(name.replace("_", " ") for name in warnings)
        if self.progress:
            self.progress.update(self.task, completed=step, rate=f"{rate:.2f} it/s", losses=summary)
        elif not self.quiet:
            self.console.print(f"step {step}/{self.total_steps}  {rate:.2f} it/s  {summary}", highlight=False)

    def log_eval(self, step: int, metrics: dict[str, float]) -> None:
        """Evaluation results: TensorBoard `eval/...`, a `{"step", "eval": {...}}` line in metrics.jsonl."""
        for name, value in metrics.items():
            self.writer.add_scalar(f"eval/{name}", value, step)
        self.health.update_evaluation(step, metrics)
        self.metrics_file.write(json.dumps({"step": step, "eval": metrics}) + "\n")
        self.metrics_file.flush()
        if not self.quiet:
            shown = {k: v for k, v in metrics.items() if not k.endswith("_std") and k != "mode_collapse"}
            self.message(f"eval at step {step}: " + "  ".join(f"{k} {v:.4g}" for k, v in shown.items()))

    def advance(self, step: int) -> None:
        if self.progress:
            self.progress.update(self.task, completed=step)

    def save_samples(self, step: int, rows: list[dict[str, Tensor]]) -> Path:
        self.health.update_samples(step, rows)
        grid = sample_grid(rows)
        path = self.run_dir / "samples" / f"step_{step:08d}.png"
        save_image(grid, path)
        self.writer.add_image("samples", grid, step)
        return path

    def _warnings(self, step: int) -> dict[str, str]:
        """The health warnings now in force, logged to TensorBoard (`health/<name>`: 1 while it lasts, 0 when
        it clears); each is announced once in the terminal when it appears."""
        current = self.health.warnings
        for name in current.keys() | self.announced:
            self.writer.add_scalar(f"health/{name}", float(name in current), step)
        for name in current.keys() - self.announced:
            self.message(f"warning: {current[name]}")
        self.announced = set(current)
        return dict(current)

    def message(self, text: str) -> None:
        """Shown even when quiet: what the user must know (e.g. how to resume)."""
        self.console.print(text, highlight=False)

    def close(self) -> None:
        if self.progress:
            self.progress.stop()
        self.writer.close()
        self.metrics_file.close()
        sys.stderr.flush()


class SilentMonitor(Monitor):
    """What ranks other than 0 of a multi-process run use: they log, show and write nothing (and only
    message and close it)."""

    def __init__(self) -> None:  # no run folder, writer or progress bar
        self.last = {}
        self.count = 0
        self.logged_step = 0
        self.last_window = (0, 0)

    def message(self, text: str) -> None:
        del text

    def close(self) -> None:
        pass
