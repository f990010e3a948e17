"""The training loop shared by every method: data, device, precision, schedule, checkpoints, resume,
logging, sample grids and a clean stop on Ctrl-C."""

from __future__ import annotations

import math
import signal
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Sampler

from pairless.config import RunConfig
from pairless.devices import resolve_device
from pairless.data.unpaired import UnpairedImageFolder
from pairless.errors import PairlessError
from pairless.train.checkpoint import (STATE, WEIGHTS, atomic_write, build_model, read_state, read_weights,
                                       save_checkpoint, weights_bytes)
from pairless.train.datasets import data_kind, fit_config_to_data, open_labelled, preview_batch
from pairless.train.diagnostics import collect_diagnostics
from pairless.train.distributed import (SINGLE, ProcessGroup, agree_to_stop, barrier, broadcast_from_main,
                                        gather_objects, join_process_group, leave_process_group)
from pairless.train.evaluation import BEST, TrainingEvaluator
from pairless.train.monitor import Monitor, SilentMonitor
from pairless.train.optim import Optimizers, lr_multiplier

PREVIEW_IMAGES = 4
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    total_steps: int
    interrupted: bool
    """Stopped by Ctrl-C before the last step."""
    losses: dict[str, float]
    main_process: bool = True
    """False in the other processes of a torchrun run (rank > 0), which report nothing."""

    @property
    def finished(self) -> bool:
        return self.step >= self.total_steps


class StepBatchSampler(Sampler[list[int]]):
    """Batches of global sample indices for steps start..total-1; rank r of w takes its own slice."""

    def __init__(self, start_step: int, total_steps: int, batch_size: int, rank: int = 0, world_size: int = 1):
        self.start_step, self.total_steps = start_step, total_steps
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size

    def __iter__(self):
        for step in range(self.start_step, self.total_steps):
            first = (step * self.world_size + self.rank) * self.batch_size
            yield list(range(first, first + self.batch_size))

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[precision])


def rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _ignore_sigint(_worker_id: int) -> None:
    """Workers ignore Ctrl-C: the main process finishes the step, saves, and shuts them down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def stop_requests():
    """Turn the first Ctrl-C into a request to stop after the current step; a second one aborts."""
    requested = {"stop": False}

    def handler(signum, frame):
        if requested["stop"]:
            raise KeyboardInterrupt
        requested["stop"] = True

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave signal handling alone
        yield requested
        return
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)


def total_steps(cfg: RunConfig, epoch_length: int, world_size: int = 1) -> int:
    """--steps, or the iterations of --epochs when every step takes batch_size samples per process."""
    if cfg.train.steps is not None:
        return cfg.train.steps
    return max(1, math.ceil(cfg.train.epochs * epoch_length / (cfg.train.batch_size * world_size)))


def prepare_run_dir(run_dir: Path, resume: bool) -> None:
    if resume:
        for name in (WEIGHTS, STATE):
            if not (run_dir / name).is_file():
                raise PairlessError(f"cannot resume {run_dir}: {name} is missing (nothing saved yet?)")
    elif (run_dir / WEIGHTS).exists():
        raise PairlessError(f"{run_dir} already holds a run; resume it with --resume {run_dir} or choose "
                            f"another --out")
    run_dir.mkdir(parents=True, exist_ok=True)


def train(cfg: RunConfig, run_dir: str | Path, resume: bool = False, quiet: bool = False,
          stop_at: int | None = None) -> TrainResult:
    """Train `cfg` into `run_dir`; with `resume`, continue its latest checkpoint (cfg.train.steps = new total).

    `stop_at` ends this session cleanly after that iteration (checkpoint saved) without changing the
    schedule, as Ctrl-C does: a later resume continues exactly.
    """
    run_dir = Path(run_dir)
    group, device = join_process_group(resolve_device(cfg.train.device))
    try:
        return _train(cfg, run_dir, resume, quiet, stop_at, group, device)
    finally:
        leave_process_group()


def _train(cfg: RunConfig, run_dir: Path, resume: bool, quiet: bool, stop_at: int | None, group: ProcessGroup,
           device: torch.device) -> TrainResult:
    prepare_run_dir(run_dir, resume)
    barrier(group)  # no rank may see rank 0's first files as "a run already there"
    torch.manual_seed(cfg.train.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    dataset = open_dataset(cfg)
    cfg = fit_config_to_data(cfg, dataset).resolved()
    cfg = replace(cfg, train=replace(cfg.train, steps=total_steps(cfg, len(dataset), group.world_size)))
    model = build_model(cfg).to(device)
    optimizers = Optimizers(model, cfg.train, device.type, cfg.train.precision, group)
    step = _restore(run_dir, model, optimizers, device, group, cfg.train.seed) if resume else 0
    broadcast_from_main(model, group)
    if not resume and group.rank > 0:
        torch.manual_seed(rank_seed(cfg.train.seed, group.rank, 0))  # own noise, patches, flips per process
    if step >= cfg.train.steps:
        return TrainResult(run_dir, step, cfg.train.steps, False, {}, group.is_main)
    if stop_at is not None and stop_at <= step:
        raise PairlessError(f"--stop-at {stop_at} is not after the run's current step {step}")
    if group.is_main:
        cfg.save(run_dir / "config.yaml")
    sampler = StepBatchSampler(step, cfg.train.steps, cfg.train.batch_size, group.rank, group.world_size)
    loader = DataLoader(dataset, batch_sampler=sampler,
                        num_workers=cfg.data.workers, pin_memory=device.type == "cuda",
                        worker_init_fn=_ignore_sigint, generator=torch.Generator().manual_seed(0))
    preview = {k: v.to(device) for k, v in preview_batch(cfg, dataset, PREVIEW_IMAGES).items()}
    monitor = Monitor(run_dir, step, cfg.train.steps, quiet=quiet) if group.is_main else SilentMonitor()
    try:
        evaluator = _evaluator(cfg, run_dir, device, monitor, resume, group)
        step, interrupted = _run_steps(cfg, run_dir, model, optimizers, loader, preview, monitor, device,
                                       step, stop_at, evaluator, group)
        if step < cfg.train.steps:
            monitor.message(f"stopped at step {step}/{cfg.train.steps}; saved {run_dir / WEIGHTS}. "
                            f"Continue with: pairless train --resume {run_dir}")
    finally:
        monitor.close()
    return TrainResult(run_dir, step, cfg.train.steps, interrupted, monitor.last, group.is_main)


def open_dataset(cfg: RunConfig):
    if data_kind(cfg.method) == "labelled":
        return open_labelled(cfg)
    if cfg.data.single_image:
        from pairless.data.single_image import SingleImagePair

        return SingleImagePair(cfg.data, seed=cfg.train.seed, batch_size=cfg.train.batch_size)
    dataset = UnpairedImageFolder(cfg.data, seed=cfg.train.seed)
    if cfg.train.batch_size > 1 and not dataset.fixed_shape:
        raise PairlessError(f"--batch-size {cfg.train.batch_size} needs images of one size, but "
                            f"--preprocess {cfg.data.preprocess} keeps their different sizes; use batch 1 "
                            f"or a cropping --preprocess")
    return dataset


def _evaluator(cfg: RunConfig, run_dir: Path, device, monitor: Monitor, resume: bool,
               group: ProcessGroup) -> TrainingEvaluator | None:
    """Rank 0's evaluator for --eval-every; if it cannot be set up, every process stops with the reason."""
    if not cfg.train.eval_every:
        return None
    evaluator, failure = None, None
    if group.is_main:
        try:
            evaluator = TrainingEvaluator(cfg, device, log=monitor.message)
        except PairlessError as exc:
            failure = exc
    if agree_to_stop(failure is not None, group, device):
        raise failure or PairlessError("rank 0 could not set up --eval-every (its error is in its output)")
    if evaluator and resume:
        best = read_state(run_dir / STATE).get("best")
        evaluator.best = best if best and best["metric"] == evaluator.metric else None
    return evaluator


def _run_steps(cfg: RunConfig, run_dir: Path, model, optimizers: Optimizers, loader, preview, monitor: Monitor,
               device: torch.device, step: int, stop_at: int | None, evaluator: TrainingEvaluator | None,
               group: ProcessGroup = SINGLE) -> tuple[int, bool]:
    """Iterate until the end of the schedule, `stop_at` or Ctrl-C; checkpoints on the way and at the end.
    Returns the step reached and whether Ctrl-C stopped it."""
    t, total = cfg.train, cfg.train.steps
    saved_step, stopped = step, False
    with stop_requests() as requests:
        for batch in loader:
            losses = train_iteration(cfg, model, optimizers, batch, step, device)
            step += 1
            if group.is_main:
                report_progress(cfg, model, losses, preview, monitor, step, device)
            if evaluator and (step % t.eval_every == 0 or step == total):
                _evaluate(evaluator, model, cfg, step, run_dir, monitor, device)
            stopped = _stop_requested(requests["stop"], group, device, sync_now=step % t.log_every == 0)
            if stopped or (stop_at is not None and step >= stop_at):
                break
            if step % t.save_every == 0 and step < total:
                _save(run_dir, model, cfg, step, optimizers, device, evaluator, group)
                saved_step = step
        if step > saved_step:
            _save(run_dir, model, cfg, step, optimizers, device, evaluator, group)
    return step, stopped and step < total


def train_iteration(cfg: RunConfig, model, optimizers: Optimizers, batch: dict, step: int,
                    device: torch.device) -> dict[str, torch.Tensor]:
    """Iteration `step` (0-based): its learning rate, the batch to the device, the model's updates."""
    t = cfg.train
    optimizers.set_lr_multiplier(lr_multiplier(step, t.steps, t.decay_fraction))
    inputs = {k: v.to(device, non_blocking=True) for k, v in batch.items() if torch.is_tensor(v)}
    with autocast(device, t.precision):
        losses = model.train_step(inputs, optimizers)
    optimizers.end_iteration()
    return losses


def _stop_requested(requested: bool, group: ProcessGroup, device, sync_now: bool) -> bool:
    """Ctrl-C stops a single process after this iteration. Several processes agree on it at log steps
    only, so the other iterations carry no extra synchronisation."""
    if not group.enabled:
        return requested
    return sync_now and agree_to_stop(requested, group, device)


def report_progress(cfg: RunConfig, model, losses: dict, preview, monitor: Monitor, step: int, device) -> None:
    """Losses, diagnostics and the progress bar; sample grids on their schedule."""
    t, total = cfg.train, cfg.train.steps
    monitor.add_losses(losses)
    if step % t.log_every == 0 or step == total:
        lr = t.lr * lr_multiplier(step - 1, total, t.decay_fraction)
        monitor.log(step, lr, collect_diagnostics(model, preview))
    else:
        monitor.advance(step)
    if step % t.sample_every == 0 or step == total:
        _save_samples(model, preview, monitor, step, device, t.precision)


def _save(run_dir: Path, model, cfg: RunConfig, step: int, optimizers: Optimizers, device,
          evaluator: TrainingEvaluator | None, group: ProcessGroup) -> None:
    """Rank 0 writes (all replicas are identical); the others wait so nobody runs ahead of a checkpoint."""
    every_rng = gather_objects(rng_state(device), group)
    if group.is_main:
        state = {**optimizers.state_dict(), "rng": every_rng[0], "rng_ranks": every_rng,
                 "best": evaluator.best if evaluator else None}
        save_checkpoint(run_dir, model, cfg, step, state, cfg.train.keep_last)
    barrier(group)


def _evaluate(evaluator: TrainingEvaluator, model, cfg: RunConfig, step: int, run_dir: Path, monitor: Monitor,
              device) -> None:
    metrics = evaluator(model, autocast(device, cfg.train.precision))
    monitor.log_eval(step, metrics)
    if evaluator.improved(metrics, step):
        atomic_write(run_dir / BEST, weights_bytes(model, cfg, step))


def rank_seed(seed: int, rank: int, step: int) -> int:
    """A distinct, reproducible random stream for each process of a multi-process run."""
    return seed + 1_000_003 * rank + 7919 * step


def _restore(run_dir: Path, model, optimizers: Optimizers, device, group: ProcessGroup, seed: int) -> int:
    tensors, _, weights_step = read_weights(run_dir / WEIGHTS)
    state = read_state(run_dir / STATE)
    if state["step"] != weights_step:
        raise PairlessError(f"cannot resume {run_dir}: {WEIGHTS} is from step {weights_step} but {STATE} from "
                            f"step {state['step']}; copy a matching pair from {run_dir / 'checkpoints'}")
    model.load_state_dict(tensors)
    model.load_training_state(state["model"])
    optimizers.load_state_dict(state)
    saved = state.get("rng_ranks") or [state["rng"]]
    if len(saved) == group.world_size:
        restore_rng_state(saved[group.rank], device)
    else:  # another process count than when saved: rank 0 continues its stream, the others start new ones
        restore_rng_state(saved[0], device)
        if group.rank > 0:
            torch.manual_seed(rank_seed(seed, group.rank, state["step"]))
    return state["step"]


def _save_samples(model, preview, monitor: Monitor, step: int, device, precision: str) -> None:
    model.eval()
    with torch.no_grad(), autocast(device, precision):
        rows = model.visuals(preview)
    model.train()
    monitor.save_samples(step, rows)
