"""Options of the training loop (optimisation, schedule, precision, checkpoints, logging)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pairless.errors import PairlessError
from pairless.eval.ranking import check_metric


@dataclass
class TrainConfig:
    steps: int | None = None
    """Total iterations; None derives them from `epochs` and the data set size."""
    epochs: float = 400
    """Used only when steps is None: passes over the larger domain (n_epochs + n_epochs_decay)."""
    decay_fraction: float = 0.5
    """The last fraction of the iterations decays the learning rate linearly to zero."""
    batch_size: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 0.0
    fused_optimizer: bool = True
    """Adam as one fused kernel per step where torch has one (CPU, CUDA, MPS, XPU), RMSprop as multi-tensor
    ops; off: torch's default implementation (a loop over the parameters on CPU, multi-tensor on CUDA)."""
    checkpoint_activations: bool = False
    """Recompute the generators' residual blocks in backward instead of keeping their activations: less
    memory for backward at the cost of running the blocks' forward twice."""
    seed: int = 0
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    log_every: int = 50
    sample_every: int = 500
    save_every: int = 1000
    keep_last: int = 3
    """How many step-numbered checkpoints to keep besides latest."""
    eval_every: int = 0
    """Evaluate on held-out test images every N iterations and keep best.safetensors (0: off)."""
    eval_images: int = 50
    """Held-out images per domain used by --eval-every."""
    eval_metric: str = "fid_local"
    """The metric best.safetensors is chosen by (fid_local, kid_local, domain_score, l1, psnr, ssim, ...)."""

    def __post_init__(self):
        positive = {"batch_size": self.batch_size, "log_every": self.log_every,
                    "sample_every": self.sample_every, "save_every": self.save_every}
        for name, value in positive.items():
            if value < 1:
                raise PairlessError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.steps is not None and self.steps < 1:
            raise PairlessError(f"--steps must be at least 1, got {self.steps}")
        if not 0 <= self.decay_fraction <= 1:
            raise PairlessError(f"--decay-fraction must be in [0, 1], got {self.decay_fraction}")
        if self.lr <= 0:
            raise PairlessError(f"--lr must be positive, got {self.lr}")
        if self.eval_every < 0:
            raise PairlessError(f"--eval-every must be 0 (off) or more, got {self.eval_every}")
        if self.eval_images < 2:
            raise PairlessError(f"--eval-images must be at least 2, got {self.eval_images}")
        check_metric(self.eval_metric)
        if self.keep_last < 0:
            raise PairlessError(f"--keep-last must be 0 or more, got {self.keep_last}")
