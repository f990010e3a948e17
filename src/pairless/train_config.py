"""Options of the training loop (optimisation, schedule, precision, checkpoints, logging)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pairless.fields import Checked, bounded
from pairless.ranking import check_metric


@dataclass
class TrainConfig(Checked):
    steps: int | None = bounded(None, at_least=1)
    """Total iterations; None derives them from `epochs` and the data set size."""
    epochs: float = 400
    """Used only when steps is None: passes over the larger domain (n_epochs + n_epochs_decay)."""
    decay_fraction: float = bounded(0.5, at_least=0, at_most=1)
    """The last fraction of the iterations decays the learning rate linearly to zero."""
    batch_size: int = bounded(1, at_least=1)
    lr: float = bounded(2e-4, above=0)
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 0.0
    fused_optimizer: bool = True
    """Adam as one fused kernel per step where torch has one (CPU, CUDA, MPS, XPU), RMSprop as multi-tensor
    ops; off: torch's default implementation (a loop over the parameters on CPU, multi-tensor on CUDA)."""
    checkpoint_activations: bool = False
    """Recompute the generators' residual blocks in backward instead of keeping their activations: less
    memory for backward at the cost of running the blocks' forward twice."""
    tf32: bool = True
    """On CUDA, float32 matmuls and convolutions run on TF32 tensor cores (10-bit mantissa products, fp32
    sums); off: full fp32 arithmetic."""
    cudnn_benchmark: bool = True
    """On CUDA, cuDNN times its convolution algorithms for each new input shape and keeps the fastest."""
    cuda_graphs: bool = False
    """Opt-in: every trained network is compiled with torch.compile(mode="reduce-overhead"), which on CUDA
    replays its kernels as CUDA graphs (for fixed-shape steps; the first iterations compile). Not yet timed
    on a GPU, hence off by default."""
    init_from: str | None = None
    """A run folder or checkpoint whose networks the run starts from (`--init`), e.g. an imported one; the
    schedule starts at step 0. Resuming ignores it (the run's own checkpoint has the weights)."""
    seed: int = 0
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    log_every: int = bounded(50, at_least=1)
    sample_every: int = bounded(500, at_least=1)
    save_every: int = bounded(1000, at_least=1)
    keep_last: int = bounded(3, at_least=0)
    """How many step-numbered checkpoints to keep besides latest."""
    eval_every: int = bounded(0, at_least=0)
    """Evaluate on held-out test images every N iterations and keep best.safetensors (0: off)."""
    eval_images: int = bounded(50, at_least=2)
    """Held-out images per domain used by --eval-every."""
    eval_metric: str = "fid_local"
    """The metric best.safetensors is chosen by (fid_local, kid_local, domain_score, l1, psnr, ssim, ...)."""

    def cross_check(self) -> None:
        check_metric(self.eval_metric)
