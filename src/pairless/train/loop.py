"""The training loop shared by every method: data, device, precision, schedule, checkpoints, resume,
logging, sample grids and a clean stop on Ctrl-C or SIGTERM."""

from __future__ import annotations

import math
import signal
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Sampler

from pairless.config import RunConfig
from pairless.devices import resolve_device, set_cuda_speed_options
from pairless.data.unpaired import UnpairedImageFolder
from pairless.errors import PairlessError, writing
from pairless.train.checkpoint import (STATE, WEIGHTS, atomic_write, build_model, check_new_run_dir, load_weights,
                                       read_state, read_weights, save_checkpoint, weights_bytes)
from pairless.train.datasets import (check_sample_shapes, data_kind, fit_config_to_data, open_labelled,
                                     preview_batch)
from pairless.train.diagnostics import collect_diagnostics
from pairless.train.distributed import (SINGLE, ProcessGroup, agree_to_stop, barrier, broadcast_from_main,
                                        gather_objects, join_process_group, leave_process_group)
from pairless.train.evaluation import BEST, TrainingEvaluator
from pairless.train.health import TrainingHealth
from pairless.train.monitor import Monitor, SilentMonitor
from pairless.train.optim import Optimizers, decay_start, lr_multiplier
from pairless.train.speed import compile_networks

PREVIEW_IMAGES = 4
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
def stop_requests():
    """Turn the first Ctrl-C or SIGTERM into a request to stop after the current step (`["signal"]` holds
    its number, 0 until then); a second one aborts."""
    requested = {"signal": 0}

    def handler(signum, frame):
        if requested["signal"]:
            raise KeyboardInterrupt
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
    return cfg.train.batch_size * getattr(cfg.model, "batches_per_step", 1)


def total_steps(cfg: RunConfig, epoch_length: int, world_size: int = 1) -> int:
    """--steps, or the iterations of --epochs (passes over the training samples)."""
    if cfg.train.steps is not None:
        return cfg.train.steps
    return max(1, math.ceil(cfg.train.epochs * epoch_length / (samples_per_step(cfg) * world_size)))


def prepare_run_dir(run_dir: Path, resume: bool) -> None:
    if resume:
        for name in (WEIGHTS, STATE):
            if not (run_dir / name).is_file():
                raise PairlessError(f"cannot resume {run_dir}: {name} is missing (nothing saved yet?)")
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
        return _train(cfg, run_dir, resume, quiet, stop_at, group, device)
    finally:
        leave_process_group()


def _train(cfg: RunConfig, run_dir: Path, resume: bool, quiet: bool, stop_at: int | None, group: ProcessGroup,
           device: torch.device) -> TrainResult:
    prepare_run_dir(run_dir, resume)
    barrier(group)  # no rank may see rank 0's first files as "a run already there"
    torch.manual_seed(cfg.train.seed)
    set_cuda_speed_options(device, cfg.train.tf32, cfg.train.cudnn_benchmark)
    dataset = open_dataset(cfg)
    cfg = fit_config_to_data(cfg, dataset).resolved()
    cfg = replace(cfg, train=replace(cfg.train, steps=total_steps(cfg, len(dataset), group.world_size)))
    if cfg.data.full_frame_decay and isinstance(dataset, UnpairedImageFolder):
        first_step = decay_start(cfg.train.steps, cfg.train.decay_fraction)
        dataset.full_frames_from = first_step * samples_per_step(cfg) * group.world_size
    model = build_model(cfg).to(device)
    if cfg.train.cuda_graphs:
        compile_networks(model)
    check_sample_shapes(cfg, dataset, model)
    optimizers = Optimizers(model, cfg.train, device.type, cfg.train.precision, group)
    step = _restore(run_dir, model, optimizers, device, group, cfg.train.seed) if resume else 0
    broadcast_from_main(model, group)
    if not resume and group.rank > 0:
        torch.manual_seed(rank_seed(cfg.train.seed, group.rank, 0))  # own noise, patches, flips per process
    if step > cfg.train.steps:
        raise PairlessError(f"{run_dir} is already at step {step}, past the {cfg.train.steps} steps asked for; "
                            f"pass a larger --steps to train further")
    if step == cfg.train.steps:
        return TrainResult(run_dir, step, cfg.train.steps, 0, {}, group.is_main)
    if stop_at is not None and stop_at <= step:
        raise PairlessError(f"--stop-at {stop_at} is not after the run's current step {step}")
    if group.is_main:
        cfg.save(run_dir / "config.yaml")
    sampler = StepBatchSampler(step, cfg.train.steps, samples_per_step(cfg), group.rank, group.world_size)
    loader = DataLoader(dataset, batch_sampler=sampler,
                        num_workers=cfg.data.workers, pin_memory=cfg.data.pin_memory and device.type == "cuda",
                        worker_init_fn=_ignore_stop_signals, generator=torch.Generator().manual_seed(0))
    preview = {k: v.to(device) for k, v in preview_batch(cfg, dataset, PREVIEW_IMAGES).items()}
    monitor = (Monitor(run_dir, step, cfg.train.steps, quiet, TrainingHealth(model.discriminator_losses()))
               if group.is_main else SilentMonitor())
    try:
        evaluator = _evaluator(cfg, run_dir, device, monitor, resume, group)
        step, stop_signal = _run_steps(cfg, run_dir, model, optimizers, loader, preview, monitor, device,
                                       step, stop_at, evaluator, group)
        if step < cfg.train.steps:
            monitor.message(f"stopped at step {step}/{cfg.train.steps}; saved {run_dir / WEIGHTS}. "
                            f"Continue with: pairless train --resume {run_dir}")
    finally:
        monitor.close()
    return TrainResult(run_dir, step, cfg.train.steps, stop_signal, monitor.last, group.is_main)


def open_dataset(cfg: RunConfig):
    if data_kind(cfg.method) == "labelled":
        return open_labelled(cfg)
    if cfg.data.single_image:
        from pairless.data.single_image import SingleImagePair

        return SingleImagePair(cfg.data, seed=cfg.train.seed, batch_size=cfg.train.batch_size)
    dataset = UnpairedImageFolder(cfg.data, seed=cfg.train.seed)
    dataset.preload(cfg.data.cache_mb)
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
               group: ProcessGroup = SINGLE) -> tuple[int, int]:
    """Iterate until the end of the schedule, `stop_at`, Ctrl-C or SIGTERM; checkpoints on the way and at the
    end. Returns the step reached and the signal that stopped it before the end (0 if none)."""
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
            stopped = _stop_requested(requests["signal"], group, device, sync_now=step % t.log_every == 0)
            if stopped or (stop_at is not None and step >= stop_at):
                break
            if step % t.save_every == 0 and step < total:
                _save(run_dir, model, cfg, step, optimizers, device, evaluator, group)
                saved_step = step
        if step > saved_step:
            _save(run_dir, model, cfg, step, optimizers, device, evaluator, group)
    return step, stopped if step < total else 0


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


def _stop_requested(requested: int, group: ProcessGroup, device, sync_now: bool) -> int:
    """Ctrl-C or SIGTERM (`requested`: its number) stops a single process after this iteration. Several
    processes agree on it at log steps only, so the other iterations carry no extra synchronisation."""
    if not group.enabled:
        return requested
    return agree_to_stop(requested, group, device) if sync_now else 0


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
    load_weights(model, tensors, run_dir / WEIGHTS)
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
