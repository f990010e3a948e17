"""Data-parallel training across processes started by `torchrun` (one per GPU, or several on CPU with gloo).

Every process holds the whole model, trains on its own shard of each step's samples (StepBatchSampler's
rank slice) and keeps its own image pools. Before each optimiser step the gradients of that optimiser's
parameters are averaged over the processes in one flattened all-reduce, so all replicas take the same step
and stay identical: the semantics of DistributedDataParallel. DDP's module wrapper itself is not used
because the methods call their networks several times per step and call helper methods on them (encoders,
feature taps), which the wrapper's one-forward-one-backward contract does not allow. Rank 0 writes
checkpoints, logs, samples and evaluations.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from pairless.errors import PairlessError


@dataclass(frozen=True)
class ProcessGroup:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


SINGLE = ProcessGroup()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join_process_group(device: torch.device) -> tuple[ProcessGroup, torch.device]:
    """Join torchrun's process group (NCCL on CUDA, gloo otherwise); each rank takes its local GPU."""
    if not launched_by_torchrun():
        return SINGLE, device
    group = ProcessGroup(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                         int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        if group.local_rank >= torch.cuda.device_count():
            raise PairlessError(f"local rank {group.local_rank} has no GPU (this node has "
                                f"{torch.cuda.device_count()}); lower --nproc_per_node")
        device = torch.device("cuda", group.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return group, device


def leave_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(group: ProcessGroup) -> None:
    if group.enabled:
        dist.barrier()


def gather_objects(value, group: ProcessGroup) -> list:
    """Every process's `value`, in rank order (e.g. their random states for the checkpoint)."""
    if not group.enabled:
        return [value]
    values = [None] * group.world_size
    dist.all_gather_object(values, value)
    return values


def agree_to_stop(request: int, group: ProcessGroup, device: torch.device) -> int:
    """A stop request seen by any process stops all of them after the same iteration. `request` is 0 (none)
    or a positive code, e.g. the number of the signal (Ctrl-C, SIGTERM) that asked; every process gets the
    largest code any of them sent."""
    if not group.enabled:
        return request
    flag = torch.tensor([float(request)], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return int(flag.item())


def raise_on_every_rank(failure: PairlessError | None, group: ProcessGroup, device: torch.device,
                        what: str) -> None:
    """Stop every process when rank 0 met `failure` (None: it did not): rank 0 raises it, the others a
    PairlessError saying it could not `what`, instead of waiting for it at their next collective call."""
    if agree_to_stop(failure is not None, group, device):
        raise failure or PairlessError(f"rank 0 could not {what} (its error is in its output)")


def average_gradients(parameters: Iterable[nn.Parameter], group: ProcessGroup) -> None:
    """Replace each gradient by its mean over the processes. Every rank runs the same code on the same
    model, so the parameters that received a gradient (and their order) are the same on all of them."""
    if not group.enabled:
        return
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= group.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_from_main(module: nn.Module, group: ProcessGroup) -> None:
    """Copy rank 0's parameters and buffers to every process (after building or restoring the model)."""
    if not group.enabled:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)
