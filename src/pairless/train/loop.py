"""The training loop shared by every method: data, device, precision, schedule, checkpoints, resume,
logging, sample grids and a clean stop on Ctrl-C or SIGTERM."""

from __future__ import annotations

import math
import signal
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Sampler

from pairless.checkpoint import (
    WEIGHTS,
    ResumePoint,
    atomic_write,
    build_model,
    check_new_run_dir,
    find_resume_point,
    holds_saved_run,
    load_initial_weights,
    load_weights,
    read_weights,
    save_checkpoint,
    weights_bytes,
)
from pairless.config import RunConfig, refuse_resuming_an_import
from pairless.data.unpaired import UnpairedImageFolder
from pairless.devices import resolve_device, set_cuda_speed_options
from pairless.errors import PairlessError, StoppedBySignal, writing
from pairless.models.base import Method, resolved
from pairless.train.datasets import check_sample_shapes, open_training_data
from pairless.train.diagnostics import collect_diagnostics
from pairless.train.distributed import (
    ProcessGroup,
    agree_to_stop,
    barrier,
    broadcast_from_main,
    gather_objects,
    join_process_group,
    leave_process_group,
    raise_on_every_rank,
)
from pairless.train.divergence import divergence_error, nonfinite
from pairless.train.evaluation import BEST, TrainingEvaluator
from pairless.train.health import TrainingHealth
from pairless.train.monitor import Monitor, SilentMonitor
from pairless.train.optim import Optimizers, decay_start, lr_multiplier
from pairless.train.runlock import run_folder_lock
from pairless.train.speed import compile_networks

PREVIEW_IMAGES = 4
SETTLE_LOG_STEPS = 3
"""Log steps before outputs may be judged collapsed (an untrained generator's outputs all look alike)."""
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    total_steps: int
    stop_signal: int
    """The signal (SIGINT: Ctrl-C, or SIGTERM) that stopped training before the last step; 0 if none."""
    losses: dict[str, float]
    main_process: bool = True
    """False in the other processes of a torchrun run (rank > 0), which report nothing."""

    @property
    def finished(self) -> bool:
        return self.step >= self.total_steps

    @property
    def interrupted(self) -> bool:
        return bool(self.stop_signal)


class StepBatchSampler(Sampler[list[int]]):
    """Batches of global sample indices for steps start..total-1; rank r of w takes its own slice.
    `batch_size` is what one process consumes per step (see `samples_per_step`)."""

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


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""Ctrl-C, and what `kill`, `timeout`, `docker stop` and cluster schedulers send before they end a process."""


def _ignore_stop_signals(_worker_id: int) -> None:
    """Workers ignore Ctrl-C and SIGTERM: the main process finishes the step, saves, and shuts them down."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


@contextmanager
def loader_batches(loader: DataLoader) -> Iterator[Iterator[dict]]:
    """The loader's batches; its worker processes end with the block, however it ends.

    Workers ignore SIGTERM (`_ignore_stop_signals`), so Python's exit, which terminates child processes
    with SIGTERM and then waits for them, would wait forever for workers still alive after an error (a
    corrupt image, a full disk): they are shut down here, and killed if they do not stop."""
    batches = iter(loader)
    try:
        yield batches
    finally:
        stop_workers(batches)


def stop_workers(batches: Iterator) -> None:
    shutdown = getattr(batches, "_shutdown_workers", None)  # torch's multi-process iterator
    if shutdown is not None:
        shutdown()
    for worker in getattr(batches, "_workers", []):
        if worker.is_alive():
            worker.kill()
            worker.join()


@contextmanager
def stop_requests():
    """Turn the first Ctrl-C or SIGTERM into a request to stop after the current step (`["signal"]` holds
    its number, 0 until then); a second one aborts at once (StoppedBySignal, without saving)."""
    requested = {"signal": 0}

    def handler(signum, frame):
        if requested["signal"]:
            raise StoppedBySignal(signum)
        requested["signal"] = signum

    try:
        previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    except ValueError:  # not the main thread: leave signal handling alone
        yield requested
        return
    try:
        yield requested
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)


def samples_per_step(cfg: RunConfig) -> int:
    """Samples one process consumes per step: --batch-size times the batches a model's step asks for
    (`batches_per_step` of its config, e.g. one fresh real batch per discriminator step)."""
    return cfg.train.batch_size * cfg.model.batches_per_step


def total_steps(cfg: RunConfig, epoch_length: int, world_size: int = 1) -> int:
    """--steps, or the iterations of --epochs (passes over the training samples)."""
    if cfg.train.steps is not None:
        return cfg.train.steps
    return max(1, math.ceil(cfg.train.epochs * epoch_length / (samples_per_step(cfg) * world_size)))


def prepare_run_dir(run_dir: Path, resume: bool) -> None:
    if resume:
        refuse_resuming_an_import(run_dir)
        if not holds_saved_run(run_dir):
            raise PairlessError(f"cannot resume {run_dir}: {WEIGHTS} is missing (nothing saved yet?)")
    else:
        check_new_run_dir(run_dir)
    with writing(run_dir):
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
        with run_folder_lock(run_dir) if group.is_main else nullcontext():
            return _train(cfg, run_dir, resume, quiet, stop_at, group, device)
    finally:
        leave_process_group()


def _train(cfg: RunConfig, run_dir: Path, resume: bool, quiet: bool, stop_at: int | None, group: ProcessGroup,
           device: torch.device) -> TrainResult:
    prepare_run_dir(run_dir, resume)
    barrier(group)  # no rank may see rank 0's first files as "a run already there"
    torch.manual_seed(cfg.train.seed)
    set_cuda_speed_options(device, cfg.train.tf32, cfg.train.cudnn_benchmark)
    data = open_training_data(cfg)
    dataset, cfg = data.dataset, data.config.resolved()
    steps = total_steps(cfg, len(dataset), group.world_size)
    cfg = replace(cfg, train=replace(cfg.train, steps=steps))
    if cfg.data.full_frame_decay and isinstance(dataset, UnpairedImageFolder):
        first_step = decay_start(steps, cfg.train.decay_fraction)
        dataset.full_frames_from = first_step * samples_per_step(cfg) * group.world_size
    model = build_model(cfg).to(device)
    if cfg.train.cuda_graphs:
        compile_networks(model)
    check_sample_shapes(cfg, dataset, model)
    started_from = load_initial_weights(model, cfg.train.init_from) if cfg.train.init_from and not resume else ()
    optimizers = Optimizers(model, cfg.train, device.type, cfg.train.precision, group)
    resume_point = find_resume_point(run_dir) if resume else None
    step = _restore(resume_point, model, optimizers, device, group, cfg.train.seed) if resume_point else 0
    broadcast_from_main(model, group)
    if not resume and group.rank > 0:
        torch.manual_seed(rank_seed(cfg.train.seed, group.rank, 0))  # own noise, patches, flips per process
    if step > steps:
        raise PairlessError(f"{run_dir} is already at step {step}, past the {steps} steps asked for; "
                            f"pass a larger --steps to train further")
    if step == steps:
        return TrainResult(run_dir, step, steps, 0, {}, group.is_main)
    if stop_at is not None and stop_at <= step:
        raise PairlessError(f"--stop-at {stop_at} is not after the run's current step {step}")
    if group.is_main:
        cfg.save(run_dir / "config.yaml")
    sampler = StepBatchSampler(step, steps, samples_per_step(cfg), group.rank, group.world_size)
    loader = DataLoader(dataset, batch_sampler=sampler,
                        num_workers=cfg.data.workers, pin_memory=cfg.data.pin_memory and device.type == "cuda",
                        worker_init_fn=_ignore_stop_signals, generator=torch.Generator().manual_seed(0))
    preview = {k: v.to(device) for k, v in data.preview(PREVIEW_IMAGES).items()}
    health = TrainingHealth(model.discriminator_losses(), settle_steps=SETTLE_LOG_STEPS * cfg.train.log_every)
    monitor = (Monitor(run_dir, step, steps, quiet, health)
               if group.is_main else SilentMonitor())
    if started_from:
        others = [name for name, _ in model.named_children() if name not in started_from]
        monitor.message(f"starting from {cfg.train.init_from}: {', '.join(started_from)} loaded"
                        + (f", {', '.join(others)} initialised anew" if others else ""))
    try:
        evaluator = _evaluator(cfg, device, monitor, resume_point, group)
        run = TrainingRun(cfg, run_dir, model, optimizers, device, group, monitor, evaluator, preview)
        step, stop_signal = run.run_steps(loader, step, stop_at)
        if step < steps:
            monitor.message(f"stopped at step {step}/{steps}; saved {run_dir / WEIGHTS}. "
                            f"Continue with: pairless train --resume {run_dir}")
    finally:
        monitor.close()
    return TrainResult(run_dir, step, steps, stop_signal, monitor.last, group.is_main)


def _evaluator(cfg: RunConfig, device, monitor: Monitor, resume_point: ResumePoint | None,
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
    raise_on_every_rank(failure, group, device, "set up --eval-every")
    if evaluator and resume_point:
        best = resume_point.state.get("best")
        evaluator.best = best if best and best["metric"] == evaluator.metric else None
    return evaluator


@dataclass
class TrainingRun:
    """One training session of a run folder, set up by `train`: its methods are the loop's steps."""

    cfg: RunConfig
    run_dir: Path
    model: Method
    optimizers: Optimizers
    device: torch.device
    group: ProcessGroup
    monitor: Monitor
    evaluator: TrainingEvaluator | None
    preview: dict[str, Tensor]
    """The fixed batch of the sample grids (and of the diagnostics' probe images)."""
    saved_step: int = 0
    """The step of the run folder's latest checkpoint."""

    @property
    def total(self) -> int:
        return resolved(self.cfg.train.steps, "steps")

    def run_steps(self, loader: DataLoader, step: int, stop_at: int | None) -> tuple[int, int]:
        """Iterate until the end of the schedule, `stop_at`, Ctrl-C or SIGTERM; checkpoints on the way and at
        the end. Returns the step reached and the signal that stopped it before the end (0 if none)."""
        t = self.cfg.train
        self.saved_step, stopped = step, 0
        with stop_requests() as requests, loader_batches(loader) as batches:
            for batch in batches:
                losses = self.train_step(batch, step)
                step += 1
                if self.group.is_main:
                    self.report_progress(losses, step)
                if step % t.log_every == 0 or step == self.total:
                    self.stop_if_diverged(*self.monitor.last_window, self.monitor.last)
                if self.evaluator and (step % t.eval_every == 0 or step == self.total):
                    self.evaluate(self.evaluator, step)
                stopped = self.stop_requested(requests["signal"], sync_now=step % t.log_every == 0)
                if stopped or (stop_at is not None and step >= stop_at):
                    break
                if step % t.save_every == 0 and step < self.total:
                    self.save(step)
            if step > self.saved_step:
                self.save(step)
        return step, stopped if step < self.total else 0

    def stop_if_diverged(self, first_step: int, last_step: int, losses: dict[str, float]) -> None:
        """Every process stops when rank 0's mean losses over steps first..last are not all finite."""
        names = nonfinite(losses) if self.group.is_main else []
        failure = divergence_error(names, losses, (first_step, last_step), self.cfg, self.run_dir,
                                   self.saved_step) if names else None
        raise_on_every_rank(failure, self.group, self.device, f"train past step {last_step} (a loss is not finite)")

    def train_step(self, batch: dict, step: int) -> dict[str, Tensor]:
        """One iteration of the model's updates at the schedule's learning rate for `step`."""
        t = self.cfg.train
        self.optimizers.set_lr_multiplier(lr_multiplier(step, self.total, t.decay_fraction))
        inputs = {k: v.to(self.device, non_blocking=True) for k, v in batch.items() if torch.is_tensor(v)}
        with autocast(self.device, t.precision):
            losses = self.model.train_step(inputs, self.optimizers)
        self.optimizers.end_iteration()
        return losses

    def stop_requested(self, requested: int, sync_now: bool) -> int:
        """Ctrl-C or SIGTERM (`requested`: its number) stops a single process after this iteration. Several
        processes agree on it at log steps only, so the other iterations carry no extra synchronisation."""
        if not self.group.enabled:
            return requested
        return agree_to_stop(requested, self.group, self.device) if sync_now else 0

    def report_progress(self, losses: dict[str, Tensor], step: int) -> None:
        """Losses, diagnostics and the progress bar; sample grids on their schedule."""
        t = self.cfg.train
        self.monitor.add_losses(losses)
        if step % t.log_every == 0 or step == self.total:
            lr = t.lr * lr_multiplier(step - 1, self.total, t.decay_fraction)
            self.monitor.log(step, lr, collect_diagnostics(self.model, self.preview))
        else:
            self.monitor.advance(step)
        if step % t.sample_every == 0 or step == self.total:
            self.save_samples(step)

    def save(self, step: int) -> None:
        """Rank 0 writes (all replicas are identical); the others wait so nobody runs ahead of a checkpoint,
        and stop with rank 0 if it could not write (a full disk), rather than wait for it at the next step."""
        if step % self.cfg.train.log_every and step != self.total:  # a log step was checked by the loop
            self.stop_if_diverged(self.monitor.logged_step + 1, step, self.monitor.mean_losses())
        every_rng = gather_objects(rng_state(self.device), self.group)
        failure = None
        if self.group.is_main:
            state = {**self.optimizers.state_dict(), "rng": every_rng[0], "rng_ranks": every_rng,
                     "best": self.evaluator.best if self.evaluator else None}
            try:
                save_checkpoint(self.run_dir, self.model, self.cfg, step, state, self.cfg.train.keep_last)
            except PairlessError as exc:
                failure = exc
        raise_on_every_rank(failure, self.group, self.device, f"save the checkpoint of step {step} in {self.run_dir}")
        self.saved_step = step

    def evaluate(self, evaluator: TrainingEvaluator, step: int) -> None:
        metrics = evaluator(self.model, autocast(self.device, self.cfg.train.precision))
        self.monitor.log_eval(step, metrics)
        if evaluator.improved(metrics, step):
            atomic_write(self.run_dir / BEST, weights_bytes(self.model, self.cfg, step))

    def save_samples(self, step: int) -> None:
        self.model.eval()
        with torch.no_grad(), autocast(self.device, self.cfg.train.precision):
            rows = self.model.visuals(self.preview)
        self.model.train()
        self.monitor.save_samples(step, rows)


def rank_seed(seed: int, rank: int, step: int) -> int:
    """A distinct, reproducible random stream for each process of a multi-process run."""
    return seed + 1_000_003 * rank + 7919 * step


def _restore(point: ResumePoint, model, optimizers: Optimizers, device, group: ProcessGroup, seed: int) -> int:
    tensors, _, _ = read_weights(point.weights)
    state = point.state
    load_weights(model, tensors, point.weights)
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
