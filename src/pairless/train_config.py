"""Options of the training loop (optimisation, schedule, precision, checkpoints, logging)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pairless.errors import PairlessError
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
    """Images per domain per step (per process under torchrun)."""
    lr: float = bounded(2e-4, above=0)
    """Learning rate of every optimiser (constant, then the decay)."""
    beta1: float = bounded(0.5, at_least=0, below=1)
    """Adam's first-moment decay."""
    beta2: float = bounded(0.999, at_least=0, below=1)
    """Adam's second-moment decay."""
    weight_decay: float = bounded(0.0, at_least=0)
    """L2 weight decay of the optimisers."""
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
    seed: int = bounded(0, at_least=0)
    """Seeds the weights, the data order and every random choice: same seed, same run (on CPU)."""
    device: str = "auto"
    """auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps."""
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """fp32, or mixed precision (bf16, fp16 with loss scaling) on GPUs."""
    log_every: int = bounded(50, at_least=1)
    """Iterations between log records: losses, diagnostics, warnings (metrics.jsonl, TensorBoard)."""
    sample_every: int = bounded(500, at_least=1)
    """Iterations between sample grids (samples/step_N.png, TensorBoard)."""
    save_every: int = bounded(1000, at_least=1)
    """Iterations between checkpoints (latest.safetensors and checkpoints/)."""
    keep_last: int = bounded(3, at_least=0)
    """How many step-numbered checkpoints to keep besides latest."""
    eval_every: int = bounded(0, at_least=0)
    """Evaluate on held-out test images every N iterations and keep best.safetensors (0: off)."""
    eval_images: int | Literal["all"] = 50
    """Held-out images per domain used by --eval-every (at least 2), or all: the whole test split (the
    papers' protocol). Checked in cross_check: a declared bound cannot compare the word."""
    eval_metric: str = "fid_local"
    """The metric best.safetensors is chosen by (fid_local, kid_local, domain_score, l1, psnr, ssim, ...;
    fid and kid with --eval-features inception)."""
    eval_features: str = bounded("local", choices=("local", "inception"))
    """local: pairless's offline scores; inception: FID and KID in the Inception features the papers use too."""
    eval_inception_weights: str | None = None
    """The Inception weights file for --eval-features inception without internet (as evaluate's option)."""
    eval_size: int | None = bounded(None, at_least=16)
    """Side (px) test images are resized to (bicubic) before translating and scoring; None: --size."""
    eval_classifier_steps: int | None = bounded(None, at_least=1)
    """Training iterations of the domain classifier behind the local scores when it is not cached yet (None:
    its default, as `pairless evaluate --classifier-steps`)."""
    eval_reference: str = ""
    """Class-conditional runs: the folder of real images (read recursively, e.g. CIFAR-10's test set) that
    --eval-every compares generated images with; translators compare with the test split of --data."""

    def cross_check(self) -> None:
        check_metric(self.eval_metric)
        if self.eval_images != "all" and self.eval_images < 2:
            raise PairlessError(f"--eval-images must be at least 2 or all, got {self.eval_images}")
