"""`pairless reproduce ROW --data DIR --out DIR`: one published row trained with its paper's recipe and
evaluated with its paper's protocol, then written up as a table (paper value, best and last evaluation).

Before anything is trained it says what the row needs (the data set and its layout, the length of training,
GPU hours from the counted flops, memory) and refuses a missing or misshapen data set in one line. The run
lives in OUT/run, so the same command continues a stopped reproduction where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pairless.checkpoint import holds_saved_run
from pairless.config import RunConfig
from pairless.errors import PairlessError
from pairless.eval.imageset import folder_paths
from pairless.reproduce.cost import REFERENCE_TFLOPS, iteration_cost
from pairless.reproduce.rows import Row, find_row
from pairless.reproduce.smoke import smoke_overrides, write_smoke_data
from pairless.reproduce.table import Outcome, train_command, write_outcome
from pairless.train.loop import samples_per_step, total_steps, train

RUN = "run"
DOMAIN_FOLDERS = ("trainA", "trainB", "testA", "testB")
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Request:
    """What the command was asked: the row, the folders, and how to run it."""

    row: Row
    data: Path | None
    out: Path
    inception_weights: Path | None = None
    device: str = "auto"
    tflops: float = REFERENCE_TFLOPS
    smoke: bool = False

    @property
    def command(self) -> str:
        parts = ["pairless reproduce", self.row.id]
        parts += ["--smoke"] if self.smoke else [f"--data {self.data}"]
        parts += [f"--out {self.out}"]
        parts += [f"--inception-weights {self.inception_weights}"] if self.inception_weights else []
        parts += [f"--device {self.device}"] if self.device != "auto" and not self.smoke else []
        return " ".join(parts)


def reproduce(request: Request, log=print) -> Outcome:
    """Say what the row needs, check the data, train (or continue) the run, write the table."""
    row = request.row
    data = write_smoke_data(row, request.out / "data") if request.smoke else request.data
    epoch = epoch_images(row, data)
    cfg = row_config(row, data, epoch, request)
    if request.smoke:
        log(f"smoke run of {row.id}: {cfg.train.steps} steps at {cfg.data.size} px on the CPU, tiny networks, "
            f"generated data in {data}; its numbers say nothing about the paper's")
    for line in plan_lines(row, cfg, epoch, request.tflops, "cpu" if request.smoke else "meta"):
        log(line)
    check_layout(row, data)
    run_dir = request.out / RUN
    resume = holds_saved_run(run_dir)
    if resume:
        log(f"continuing {run_dir}")
    result = train(config_to_continue(row, run_dir, request) if resume else cfg, run_dir, resume=resume)
    outcome = Outcome.read(row, run_dir, result.step, result.total_steps, result.stop_signal, request.command,
                           train_command(cfg, row.preset, run_dir), request.smoke)
    for path in write_outcome(outcome):
        log(f"wrote {path}")
    return outcome


def row_config(row: Row, data: Path | None, epoch: int, request: Request) -> RunConfig:
    """The method's defaults (the reference code's), the row's preset and overrides, and the paper's
    evaluation protocol as --eval-... settings (`data` None: everything but the folders, for the plan)."""
    cfg = RunConfig.defaults(row.method, row.preset).override(dict(row.overrides))
    protocol: dict[str, object] = {
        "train.eval_images": "all", "train.eval_features": "inception", "train.eval_metric": row.metric,
        "train.eval_size": row.eval_size, "train.eval_every": eval_interval(row, cfg, epoch),
    }
    if data is not None and row.data.kind == "labelled":
        protocol |= {"data.root": str(data / "train"), "train.eval_reference": str(data / "test")}
    elif data is not None:
        protocol["data.root"] = str(data)
    if request.inception_weights:
        protocol["train.eval_inception_weights"] = str(request.inception_weights)
    if request.device != "auto":
        protocol["train.device"] = request.device
    cfg = cfg.override(protocol)
    return cfg.override(smoke_overrides(cfg)) if request.smoke else cfg


def eval_interval(row: Row, cfg: RunConfig, epoch: int) -> int:
    """The row's evaluation interval in iterations."""
    if row.eval_unit == "iterations":
        return round(row.eval_every)
    return max(1, round(row.eval_every * epoch / samples_per_step(cfg)))


def epoch_images(row: Row, data: Path | None) -> int:
    """Training images per epoch: the folder's own count where it has the row's layout, else the paper's."""
    if data is None or not data.is_dir():
        return row.data.epoch_images
    if row.data.kind == "labelled":
        return len(folder_paths(data / "train")) or row.data.epoch_images
    return max(len(folder_paths(data / name)) for name in ("trainA", "trainB")) or row.data.epoch_images


def plan_lines(row: Row, cfg: RunConfig, epoch: int, tflops: float, count_on: str = "meta") -> list[str]:
    """What the row needs, before it starts (the iteration counted on the device `count_on`)."""
    steps = total_steps(cfg, epoch)
    estimate = cfg if row.data.kind == "unpaired" else cfg.override(
        {"model.num_classes": row.data.classes, "model.image_size": cfg.data.size})
    cost = iteration_cost(estimate, count_on)
    length = (f"{cfg.train.epochs:g} epochs of {epoch:,} images, batch {cfg.train.batch_size}"
              if cfg.train.steps is None else f"batch {cfg.train.batch_size}")
    return [
        f"{row.id}: {row.method} on {row.data.name}; the paper's {row.label}: {row.paper} ({row.paper_source})",
        f"  data:     --data holding {row.data.layout}",
        f"            get it: {row.data.source}",
        f"  training: {steps:,} iterations ({length}) at {cfg.data.size} px; evaluated every "
        f"{cfg.train.eval_every:,} iteration(s) on all test images",
        f"  compute:  {cost.flops / 1e12:.3g} TFLOP per iteration (counted) -> about "
        f"{cost.gpu_hours(steps, tflops):,.1f} GPU hours at {tflops:.1f} TFLOP/s (the reference CUT's rate on an "
        f"H100; --tflops for yours)",
        f"  memory:   about {cost.memory_gb:.1f} GB of tensors ({cost.state_bytes / 1e9:.2f} GB weights, gradients "
        f"and optimiser moments + at most {cost.saved_bytes / 1e9:.2f} GB kept for backward), plus the CUDA context",
    ]


def check_layout(row: Row, data: Path | None) -> None:
    """One clear line about what is missing, naming the folder."""
    expected = f"{row.id} needs {row.data.name}: {row.data.layout}"
    if data is None:
        raise PairlessError(f"--data is required: {expected}")
    if not data.is_dir():
        raise PairlessError(f"--data {data}: folder not found; {expected}")
    if row.data.kind == "labelled":
        for split in SPLITS:
            check_class_folders(data / split, expected)
        return
    for name in DOMAIN_FOLDERS:
        if not (data / name).is_dir():
            raise PairlessError(f"--data {data}: no {name}/ folder; {expected}")
        if not folder_paths(data / name):
            raise PairlessError(f"--data {data}: {name}/ holds no images; {expected}")


def check_class_folders(folder: Path, expected: str) -> None:
    if not folder.is_dir():
        raise PairlessError(f"--data {folder.parent}: no {folder.name}/ folder; {expected}")
    classes = [p for p in folder.iterdir() if p.is_dir() and folder_paths(p)]
    if len(classes) < 2:
        raise PairlessError(f"--data {folder.parent}: {folder.name}/ holds {len(classes)} class folder(s) with "
                            f"images; {expected}")


def config_to_continue(row: Row, run_dir: Path, request: Request) -> RunConfig:
    """A stopped reproduction's own settings (an Inception weights file given now replaces the old one)."""
    cfg = RunConfig.load(run_dir / "config.yaml")
    if cfg.method != row.method:
        raise PairlessError(f"{run_dir} holds a {cfg.method} run, not {row.id}'s {row.method}: use another --out")
    if request.inception_weights:
        cfg = cfg.override({"train.eval_inception_weights": str(request.inception_weights)})
    return cfg


def request_for(row_id: str, data: Path | None, out: Path | None, inception_weights: Path | None = None,
                device: str = "auto", tflops: float = REFERENCE_TFLOPS, smoke: bool = False) -> Request:
    """The command line's options as a Request, refusing what cannot run."""
    row = find_row(row_id)
    if out is None:
        raise PairlessError("--out is required: the folder for the run and the table")
    data, out = (data.expanduser().resolve() if data else None), out.expanduser().resolve()
    inception_weights = inception_weights.expanduser().resolve() if inception_weights else None
    if smoke and data is not None:
        raise PairlessError("--smoke makes its own tiny data set: drop --data")
    if tflops <= 0:
        raise PairlessError(f"--tflops must be positive, got {tflops:g}")
    return Request(row, data, out, inception_weights, device, tflops, smoke)
