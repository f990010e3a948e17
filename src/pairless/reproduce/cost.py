"""What a reproduction will cost, told before it starts: the flops of one training iteration and the
tensors it keeps, counted on the meta device (shapes only: no memory is used and no arithmetic done, so the
full U-GAT-IT at 256 px is counted in seconds on any machine), scaled to GPU hours at a stated rate. Tiny
networks (a smoke run's) are counted on the CPU instead, where real arithmetic on them is quicker than the
meta device's shape functions written in Python; both count the same flops (tests/test_reproduce.py).

The flops are counted as `benchmarks/cost.py` counts them (torch's FlopCounterMode over the model's own
training step, forward and backward); the optimiser steps are left out (they add no matmul or convolution
flops), so a step here runs backward only.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from pairless.checkpoint import build_model, model_channels
from pairless.config import RunConfig
from pairless.models.base import Method
from pairless.train.datasets import data_kind
from pairless.train.loop import samples_per_step

REFERENCE_TFLOPS = 1.423 / 0.092
"""The rate the reference CUT reached on an H100 at 256 px, batch 1: 1.423 TFLOP per iteration (counted by
benchmarks/cost.py, benchmarks/RESULTS.md) in 0.092 s per iteration (measured, ../shared/methods.md). No
pairless run has been timed on a GPU yet; `--tflops` states another rate."""
GB = 1e9
ADAM_COPIES = 4
"""Each trained weight is held as itself, its gradient and Adam's two moments."""


@dataclass(frozen=True)
class IterationCost:
    flops: int
    """Forward and backward of one training iteration."""
    state_bytes: int
    """Weights, their gradients and the optimiser's moments (buffers and averaged copies once)."""
    saved_bytes: int
    """Tensors saved for backward over the iteration, summed: an upper bound on the activation memory."""

    def gpu_hours(self, iterations: int, tflops: float) -> float:
        return self.flops * iterations / (tflops * 1e12) / 3600

    @property
    def memory_gb(self) -> float:
        return (self.state_bytes + self.saved_bytes) / GB


class BackwardOnly:
    """An Updater that backpropagates and steps nothing: what flop counting needs of a training step."""

    def __init__(self, model: Method):
        self.model = model

    def step(self, loss: Tensor, *groups: str) -> None:
        self.model.zero_grad(set_to_none=True)
        loss.backward()


def training_batch(cfg: RunConfig) -> dict[str, Tensor]:
    """A batch shaped as the trainer hands one step of `cfg` (on the current default device)."""
    count, size = samples_per_step(cfg), cfg.data.size
    if data_kind(cfg.method) == "labelled":
        return {"image": torch.zeros(count, cfg.data.channels_a, size, size),
                "label": torch.zeros(count, dtype=torch.long)}
    a, b = model_channels(cfg)
    return {"A": torch.zeros(count, a, size, size), "B": torch.zeros(count, b, size, size)}


def state_bytes(model: Method) -> int:
    trained = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    kept = sum(p.numel() * p.element_size() for p in model.parameters() if not p.requires_grad)
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return ADAM_COPIES * trained + kept + buffers


def iteration_cost(cfg: RunConfig, device: str = "meta") -> IterationCost:
    """Counts one training iteration of `cfg` on `device` (labelled runs need their class count set)."""
    cfg = cfg.resolved()
    saved: list[int] = []

    def pack(tensor: Tensor) -> Tensor:
        saved.append(tensor.untyped_storage().nbytes())
        return tensor

    with torch.random.fork_rng(devices=[]), torch.device(device), ExitStack() as stack:
        model = build_model(cfg)
        batch = training_batch(cfg)
        flops = stack.enter_context(FlopCounterMode(display=False))
        stack.enter_context(torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor))
        model.train_step(batch, BackwardOnly(model))
    return IterationCost(flops.get_total_flops(), state_bytes(model), sum(saved))
