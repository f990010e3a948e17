"""Stopping a run whose losses stopped being numbers, before it saves weights that are.

The trainer sums the losses on the device and reads them only at log steps (no host sync per iteration),
so a non-finite loss is found at the first log step after it, or before a checkpoint is written; the run
then stops with one line naming the loss, the steps and the setting most likely to blame, keeping the
last checkpoint, which was written before it.
"""

from __future__ import annotations

import math
from pathlib import Path

from pairless.checkpoint import WEIGHTS
from pairless.config import RunConfig
from pairless.errors import PairlessError

LARGE_LR_FACTOR = 10
"""A learning rate this many times the method's default or more is named as the likely cause."""
SMALL_TEMPERATURE = 1e-3


def nonfinite(losses: dict[str, float]) -> list[str]:
    return [name for name, value in losses.items() if not math.isfinite(value)]


def divergence_error(names: list[str], losses: dict[str, float], steps: tuple[int, int], cfg: RunConfig,
                     run_dir: Path, saved_step: int) -> PairlessError:
    first, last = steps
    window = f"step {last}" if first == last else f"steps {first}-{last}"
    kept = (f"the last checkpoint ({run_dir / WEIGHTS}, step {saved_step}) is kept"
            if saved_step > 0 else "no checkpoint was saved")
    return PairlessError(f"training diverged: loss {names[0]} is {losses[names[0]]} over {window}; stopped "
                         f"without saving, {kept}. Likely cause: {likely_cause(cfg)}")


def likely_cause(cfg: RunConfig) -> str:
    default_lr = RunConfig.defaults(cfg.method).train.lr
    if cfg.train.lr >= LARGE_LR_FACTOR * default_lr:
        return f"--lr {cfg.train.lr:g} is {cfg.train.lr / default_lr:.3g}x {cfg.method}'s default {default_lr:g}"
    temperature = getattr(cfg.model, "nce_temperature", None)
    if temperature is not None and temperature < SMALL_TEMPERATURE:
        return f"--nce-temperature {temperature:g} is tiny (default 0.07): the logits overflow"
    if cfg.train.precision == "fp16":
        return "--precision fp16 overflowed: use bf16 or fp32"
    return f"a learning rate too large for this data (--lr {cfg.train.lr:g}: try a lower one), or images with " \
           f"NaN values"
