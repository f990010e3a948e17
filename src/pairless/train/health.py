"""Warnings a user wants while training: a runaway discriminator and collapsed outputs.

Both are judged from what the trainer measures anyway, so watching costs nothing on the hot path:
- runaway discriminator: a discriminator loss (the model's `discriminator_losses()`, objectives that are
  0 exactly when D separates real from generated images perfectly) is below `RUNAWAY_LOSS` in at least
  `RUNAWAY_LOW_STEPS` of the last `RUNAWAY_LOG_STEPS` log steps (one blip above it does not hide a runaway);
  the generator then gets no useful signal and usually collapses;
- collapsed outputs: the translations of the fixed preview images in a sample grid vary less than
  `COLLAPSE_THRESHOLD` as much as those inputs do (different scenes translated to nearly the same image),
  or an `--eval-every` evaluation raised its mode-collapse flag.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from torch import Tensor

from pairless.eval.distribution import diversity_ratio
from pairless.eval.evaluate import COLLAPSE_THRESHOLD, downsampled_pixels

RUNAWAY_LOSS = 0.02
"""On the raw discriminator loss, the sum of its real and generated terms: each near 0.01 (issue 18's run
that collapsed had 0.016)."""
RUNAWAY_LOG_STEPS = 5
RUNAWAY_LOW_STEPS = 4

RUNAWAY = "runaway_discriminator"
COLLAPSED = "collapsed_outputs"


class TrainingHealth:
    """Keeps the current warnings (name -> explanation), updated at log, sample and evaluation steps."""

    def __init__(self, discriminator_losses: Iterable[str], settle_steps: int = 0):
        self.watched = tuple(discriminator_losses)
        self.settle_steps = settle_steps
        """Outputs are not judged collapsed before this step: an untrained generator's all look alike."""
        self.recent_lows: dict[str, deque[bool]] = {name: deque(maxlen=RUNAWAY_LOG_STEPS) for name in self.watched}
        self.warnings: dict[str, str] = {}

    def update_losses(self, step: int, losses: dict[str, float]) -> None:
        """Mean losses of the log window that ends at `step`."""
        for name in self.watched:
            if name in losses:
                self.recent_lows[name].append(losses[name] < RUNAWAY_LOSS)
        runaway = [name for name, lows in self.recent_lows.items() if sum(lows) >= RUNAWAY_LOW_STEPS]
        self._set(RUNAWAY, bool(runaway),
                  f"runaway discriminator: {', '.join(runaway)} loss below {RUNAWAY_LOSS} in {RUNAWAY_LOW_STEPS}+ "
                  f"of the last {RUNAWAY_LOG_STEPS} log steps (up to step {step}); the generator gets little signal")

    def update_samples(self, step: int, rows: list[dict[str, Tensor]]) -> None:
        """A sample grid's first row: its first column holds the inputs, its second their translations."""
        images = list(rows[0].values())
        if len(images) < 2 or len(images[0]) < 3 or step < self.settle_steps:
            return
        ratio = diversity_ratio(downsampled_pixels(images[1].detach()), downsampled_pixels(images[0]))
        self._set(COLLAPSED, ratio < COLLAPSE_THRESHOLD,
                  f"collapsed outputs: at step {step} the preview translations vary {ratio:.2f}x as much as "
                  "their inputs")

    def update_evaluation(self, step: int, metrics: dict[str, float]) -> None:
        if "mode_collapse" in metrics and step >= self.settle_steps:
            self._set(COLLAPSED, bool(metrics["mode_collapse"]),
                      f"collapsed outputs: the evaluation at step {step} flags mode collapse (diversity "
                      f"{metrics.get('diversity', float('nan')):.2f})")

    def _set(self, name: str, active: bool, explanation: str) -> None:
        if active:
            self.warnings[name] = explanation
        else:
            self.warnings.pop(name, None)

