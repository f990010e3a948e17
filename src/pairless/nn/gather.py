"""Rows gathered from every process of a multi-process run, with gradients sent back to their owners
(a loss over the whole global batch, such as ContraGAN's 2C loss, needs every process's embeddings)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


class _GatherRows(torch.autograd.Function):
    """all_gather along dim 0 whose backward gives each process the gradient of its own rows summed over
    every process's loss (an all-reduce: unlike reduce-scatter, every backend has it)."""

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        ctx.rows = slice(dist.get_rank() * len(tensor), (dist.get_rank() + 1) * len(tensor))
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rows]


def gather_rows(tensor: Tensor) -> tuple[Tensor, int]:
    """Every process's `tensor` (same shape on each) stacked in rank order, and the row where this process's
    part starts; gradients flow back to each part's process. Outside multi-process training: (tensor, 0)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor, 0
    return _GatherRows.apply(tensor), dist.get_rank() * len(tensor)
