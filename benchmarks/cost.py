"""What one training iteration of a translator costs, counted on CPU (issue 14): flops, dispatched aten ops
(model and optimiser), host synchronisations and the bytes saved for backward.

    python benchmarks/cost.py --models cut,fastcut --size 256 --batch-size 1
    python benchmarks/cost.py --arch-size 256 --size 64 --batch-size 1,8   # 256 px networks, 64 px images

A model is built and stepped as the trainer builds and steps it (its preset resolved for `--arch-size`,
`build_model`, `Optimizers`, `loop.TrainingRun.train_step`, then `TrainingRun.report_progress` on a step that neither
logs nor samples), fed random images of `--size` px. After two warm-up iterations one iteration is counted.
Op counts do not depend on the image size (the same layers run), so `--arch-size 256 --size 64` gives the
256 px op counts cheaply; flops and saved bytes are those of the images fed.

What is counted:
- flops: `torch.utils.flop_counter.FlopCounterMode`, forward and backward.
- ops: every op a `TorchDispatchMode` sees, except the view ops in `VIEW_OPS` and the metadata and
  profiler-marker ops of `NOT_KERNELS`; ops between the
  global optimizer step pre- and post-hooks are the optimiser's, the rest the model's (forward, backward,
  after-step constraints and the loop's loss bookkeeping). The optimiser part is also counted with the
  implementation the trainer uses on CUDA (`optimizer_implementation(..., "cuda")`), on the same state.
- syncs: model-part ops in `SYNC_OPS` (and `repeat_interleave` with a tensor of repeats and no
  `output_size`): each reads a device value on the host. A CPU run cannot tell host tensors from device
  tensors, so the host reads that dispatch no op (NumPy views, `tolist`) are invisible to it.
- saved MB: the storages packed by `torch.autograd.graph.saved_tensors_hooks`. A graph is what one backward
  unpacks (and so frees), counted once per storage; the largest graph and the sum over the iteration,
  plus what was saved but never backpropagated. 1 MB = 2**20 bytes.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from pairless.checkpoint import build_model, model_channels
from pairless.config import RunConfig
from pairless.errors import PairlessError
from pairless.train.distributed import SINGLE
from pairless.train.loop import TrainingRun
from pairless.train.monitor import Monitor
from pairless.train.optim import Optimizers, build_optimizer, optimizer_implementation

VIEW_OPS = frozenset({
    "view", "reshape", "_reshape_alias", "_unsafe_view", "transpose", "t", "permute", "expand", "slice",
    "select", "as_strided", "detach", "alias", "unsqueeze", "squeeze", "split", "split_with_sizes", "unbind",
})
"""Ops that only make a new view of a storage: no kernel runs, so they are not counted."""
NOT_KERNELS = frozenset({"prim", "profiler"})
"""Namespaces of ops that launch no kernel either: metadata queries and `record_function` markers."""
SYNC_OPS = frozenset({
    "_local_scalar_dense", "item", "nonzero", "is_nonzero", "equal", "masked_select",
    "_unique", "_unique2", "unique_dim", "unique_consecutive", "unique_dim_consecutive",
})
"""Ops whose result the host must wait for (`.item()`, `bool(tensor)`, data-dependent output sizes)."""
MODELS = ("cut", "fastcut", "dclgan", "simdcl", "cyclegan", "ugatit-light", "ugatit")
MB = 2**20


class OpCounter(TorchDispatchMode):
    """Counts dispatched ops by name, split into the model part and the optimiser part."""

    def __init__(self):
        super().__init__()
        self.model: Counter[str] = Counter()
        self.optimizer: Counter[str] = Counter()
        self.syncs: Counter[str] = Counter()
        self.in_optimizer = 0
        self.optimizer_steps = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        if func.namespace not in NOT_KERNELS and name not in VIEW_OPS:
            if self.in_optimizer:
                self.optimizer[name] += 1
            else:
                self.model[name] += 1
                if is_sync(func, kwargs):
                    self.syncs[name] += 1
        return func(*args, **kwargs)


def is_sync(func, kwargs: dict) -> bool:
    if func is torch.ops.aten.repeat_interleave.Tensor:
        return kwargs.get("output_size") is None
    return func.overloadpacket.__name__ in SYNC_OPS


class _Saved:
    """What autograd keeps instead of a saved tensor while the meter's hooks are active."""

    __slots__ = ("tensor", "index", "storage", "nbytes")

    def __init__(self, tensor: torch.Tensor, index: int):
        self.tensor, self.index = tensor, index
        storage = tensor.untyped_storage()
        self.storage, self.nbytes = storage.data_ptr(), storage.nbytes()


class SavedTensorMeter:
    """Bytes of the storages saved for backward, per backward graph.

    A saved tensor belongs to the graph of the backward that unpacks it; `close_graph` ends the current
    graph (called when an optimiser steps, i.e. after each backward of the Updater)."""

    def __init__(self):
        self.graphs: list[int] = []
        self._current: dict[int, int] = {}
        self._never_unpacked: dict[int, _Saved] = {}
        self._packed = 0

    def hooks(self):
        return torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)

    def _pack(self, tensor: torch.Tensor) -> _Saved:
        saved = _Saved(tensor, self._packed)
        self._packed += 1
        self._never_unpacked[saved.index] = saved
        return saved

    def _unpack(self, saved: _Saved) -> torch.Tensor:
        self._never_unpacked.pop(saved.index, None)
        self._current[saved.storage] = saved.nbytes
        return saved.tensor

    def close_graph(self) -> None:
        if self._current:
            self.graphs.append(sum(self._current.values()))
            self._current = {}

    @property
    def unreached(self) -> int:
        """Bytes saved for a backward that never ran (graphs dropped without backward)."""
        return sum({s.storage: s.nbytes for s in self._never_unpacked.values()}.values())


@dataclass
class Cost:
    flops: int = 0
    model_ops: Counter = field(default_factory=Counter)
    optimizer_ops: Counter = field(default_factory=Counter)
    optimizer_steps: int = 0
    syncs: Counter = field(default_factory=Counter)
    graphs: list[int] = field(default_factory=list)
    """Bytes saved for backward by each backward graph of the iteration."""
    unreached: int = 0
    cuda_optimizer_ops: int | None = None

    @property
    def largest_graph(self) -> int:
        return max(self.graphs, default=0)

    @property
    def saved_total(self) -> int:
        return sum(self.graphs) + self.unreached


@contextmanager
def counting(flops: bool = True, saved: bool = True):
    """Count everything run inside the block into the `Cost` it yields."""
    cost, ops, meter = Cost(), OpCounter(), SavedTensorMeter()

    def enter_optimizer(*_):
        meter.close_graph()
        ops.in_optimizer += 1
        ops.optimizer_steps += 1

    def leave_optimizer(*_):
        ops.in_optimizer -= 1

    with ExitStack() as stack:
        flop_counter = stack.enter_context(FlopCounterMode(display=False)) if flops else None
        stack.enter_context(ops)
        if saved:
            stack.enter_context(meter.hooks())
        for handle in (register_optimizer_step_pre_hook(enter_optimizer),
                       register_optimizer_step_post_hook(leave_optimizer)):
            stack.callback(handle.remove)
        yield cost
    meter.close_graph()
    cost.flops = flop_counter.get_total_flops() if flop_counter else 0
    cost.model_ops, cost.optimizer_ops, cost.syncs = ops.model, ops.optimizer, ops.syncs
    cost.optimizer_steps = ops.optimizer_steps
    cost.graphs, cost.unreached = meter.graphs, meter.unreached


def run_config(method: str, arch_size: int, size: int, batch_size: int, overrides: dict) -> RunConfig:
    """The method's preset with its size-dependent fields resolved for `arch_size`, then fed `size` px."""
    cfg = RunConfig.defaults(method).override({"data.size": arch_size, "train.batch_size": batch_size,
                                               "train.device": "cpu", "train.steps": 1000,
                                               "train.log_every": 1000, "train.sample_every": 1000,
                                               **overrides})
    return cfg.resolved().override({"data.size": size})


class Trainer:
    """A model, its optimisers and a monitor, stepped exactly as `loop.TrainingRun.run_steps` steps them."""

    def __init__(self, cfg: RunConfig, run_dir: Path):
        torch.manual_seed(cfg.train.seed)
        self.cfg, self.device = cfg, torch.device(cfg.train.device)
        self.model = build_model(cfg).to(self.device)
        self.optimizers = Optimizers(self.model, cfg.train, self.device.type, cfg.train.precision)
        self.monitor = Monitor(run_dir, 0, cfg.train.steps, quiet=True)
        self.run = TrainingRun(cfg, run_dir, self.model, self.optimizers, self.device, SINGLE, self.monitor,
                               None, {})
        self.step = 0
        channels = dict(zip("AB", model_channels(cfg), strict=True))
        n, size = cfg.train.batch_size, cfg.data.size
        self.batches = [{d: torch.rand(n, c, size, size) * 2 - 1 for d, c in channels.items()} for _ in range(2)]

    def iteration(self) -> dict[str, torch.Tensor]:
        batch = self.batches[self.step % len(self.batches)]
        losses = self.run.train_step(batch, self.step)
        self.step += 1
        self.run.report_progress(losses, self.step)
        return losses

    def use_cuda_optimizers(self) -> None:
        """Rebuild the optimisers as the trainer builds them on CUDA, continuing from their state."""
        state = self.optimizers.state_dict()
        for group in self.model.optimizer_groups():
            implementation = optimizer_implementation(group.kind, self.cfg.train, "cuda")
            self.optimizers.implementations[group.name] = implementation
            self.optimizers.groups[group.name] = build_optimizer(self.model, group, self.cfg.train, implementation)
        self.optimizers.load_state_dict(state)

    def close(self) -> None:
        self.monitor.close()


def measure(cfg: RunConfig, flops: bool = True, saved: bool = True, cuda_optimizer: bool = True,
            warmup: int = 2) -> Cost:
    """The cost of one steady-state iteration (after `warmup` iterations) as the trainer runs it."""
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg, Path(run_dir))
        try:
            for _ in range(warmup):
                trainer.iteration()
            with counting(flops, saved) as cost:
                trainer.iteration()
            if cuda_optimizer:
                trainer.use_cuda_optimizers()
                trainer.iteration()
                with counting(flops=False, saved=False) as cuda:
                    trainer.iteration()
                cost.cuda_optimizer_ops = sum(cuda.optimizer_ops.values())
        finally:
            trainer.close()
    return cost


@dataclass(frozen=True)
class Reference:
    source: str
    model_ops: int
    optimizer_ops: int | None = None
    flops: float | None = None
    saved_mb: tuple[int, int] | None = None
    size: int = 256
    """The image size of `flops` and `saved_mb`."""
    syncs: int | None = None


REFERENCE = {
    "cut": Reference("taesungp", 1743, 702, 1.423e12, (1369, 2656), syncs=0),
    "fastcut": Reference("taesungp", 1137, 702, 0.763e12, (749, 1491), syncs=0),
    "dclgan": Reference("JunlinHan", 3288, 1332, 0.572e12, (959, 1691), size=128),
    "simdcl": Reference("JunlinHan", 4300, 1548, 0.644e12, (985, 1717), size=128, syncs=0),
}
"""The reference implementations at batch 1 and their default options (issue 14; CPU, torch 2.14.1)."""


def ratio(ours: float, theirs: float | None) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "-"


def table_row(method: str, cfg: RunConfig, arch_size: int, cost: Cost) -> str:
    ref = REFERENCE.get(method)
    comparable = ref is not None and cfg.train.batch_size == 1
    same_size = comparable and cfg.data.size == ref.size
    model_ops, optimizer_ops = sum(cost.model_ops.values()), sum(cost.optimizer_ops.values())
    size = f"{cfg.data.size}" if cfg.data.size == arch_size else f"{cfg.data.size} ({arch_size} arch)"
    cells = [
        method, size, str(cfg.train.batch_size),
        f"{cost.flops / 1e12:.3f} T", f"{ref.flops / 1e12:.3f} T" if same_size else "-",
        ratio(cost.flops, ref.flops) if same_size else "-",
        f"{model_ops:,}", f"{ref.model_ops:,}" if comparable else "-",
        ratio(model_ops, ref.model_ops) if comparable else "-",
        f"{optimizer_ops:,} / {cost.cuda_optimizer_ops if cost.cuda_optimizer_ops is not None else '-'}",
        f"{ref.optimizer_ops:,}" if comparable and ref.optimizer_ops else "-",
        f"{sum(cost.syncs.values())}" + (f" ({', '.join(sorted(cost.syncs))})" if cost.syncs else ""),
        f"{cost.largest_graph / MB:,.0f} / {cost.saved_total / MB:,.0f}",
        f"{ref.saved_mb[0]:,} / {ref.saved_mb[1]:,}" if same_size else "-",
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = ("| model | px | batch | flops | ref flops | ratio | model ops | ref model ops | ratio | "
          "optimiser ops (CPU / CUDA setting) | ref optimiser ops | syncs | saved MB largest / sum | "
          "ref saved MB |\n|" + "---|" * 14)


def parse_overrides(items: list[str]) -> dict[str, str]:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --set expects KEY=VALUE, got {item!r}")
        overrides[key] = value
    return overrides


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--size", type=int, default=256, help="image size fed to the networks")
    parser.add_argument("--arch-size", type=int, default=None,
                        help="the size the networks are configured for (default: --size)")
    parser.add_argument("--batch-size", default="1,8", help="comma-separated batch sizes")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every model, e.g. --set width=8 (repeatable)")
    parser.add_argument("--no-flops", action="store_true", help="skip the flop count (faster)")
    parser.add_argument("--no-saved", action="store_true", help="skip the saved-tensor meter")
    parser.add_argument("--no-cuda-optimizer", action="store_true",
                        help="skip the optimiser count with the CUDA implementation (it needs more memory)")
    parser.add_argument("--ops", action="store_true", help="also print each model's op names and counts")
    args = parser.parse_args(argv)
    arch_size = args.arch_size or args.size
    overrides = parse_overrides(args.set)
    lines = [f"torch {torch.__version__}, CPU, {args.size} px images, networks for {arch_size} px", "", HEADER]
    print("\n".join(lines), flush=True)
    details = []
    for method in args.models.split(","):
        for batch_size in (int(b) for b in args.batch_size.split(",")):
            try:
                cfg = run_config(method, arch_size, args.size, batch_size, overrides)
                cost = measure(cfg, not args.no_flops, not args.no_saved, not args.no_cuda_optimizer)
            except PairlessError as exc:
                lines.append(f"| {method} | {args.size} | {batch_size} | error: {exc} |")
                print(lines[-1], flush=True)
                continue
            lines.append(table_row(method, cfg, arch_size, cost))
            print(lines[-1], flush=True)
            if args.ops:
                details.append(f"{method} batch {batch_size}: model {dict(cost.model_ops.most_common())}\n"
                               f"  optimiser {dict(cost.optimizer_ops.most_common())}")
    if details:
        print("\n".join(["", *details]))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
