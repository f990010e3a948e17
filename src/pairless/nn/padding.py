"""Reflection padding that keeps nothing for backward."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _ShapeOnlyReflectionPad(torch.autograd.Function):
    """Reflection padding that keeps no tensor for backward: torch's keeps its input, though its backward
    reads only the input's shape (here taken from a view of the incoming gradient)."""

    @staticmethod
    def forward(ctx, x: Tensor, padding: tuple[int, int, int, int]) -> Tensor:
        ctx.padding = padding
        return torch.ops.aten.reflection_pad2d(x, padding)

    @staticmethod
    def backward(ctx, grad: Tensor):
        left, right, top, bottom = ctx.padding
        input_shaped = grad[..., top:grad.shape[-2] - bottom, left:grad.shape[-1] - right]
        return torch.ops.aten.reflection_pad2d_backward(grad, input_shaped, list(ctx.padding)), None


def reflection_pad(x: Tensor, padding: tuple[int, int, int, int]) -> Tensor:
    """`F.pad(x, padding, mode="reflect")`, saving nothing for backward when training; torch's own pad
    otherwise (inference, and traced exports, which cannot hold a Python autograd function)."""
    if x.dim() != 4 or not torch.is_grad_enabled() or torch.jit.is_tracing():
        return F.pad(x, padding, mode="reflect")
    return _ShapeOnlyReflectionPad.apply(x, tuple(padding))


class ReflectionPad(nn.ReflectionPad2d):
    """`nn.ReflectionPad2d` that saves nothing for backward (see `reflection_pad`)."""

    def forward(self, x: Tensor) -> Tensor:
        return reflection_pad(x, self.padding)
