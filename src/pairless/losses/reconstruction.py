"""Pixel reconstruction terms of the cycle family: cycle consistency and identity (both L1)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def cycle_loss(reconstructed: Tensor, original: Tensor) -> Tensor:
    """||F(G(x)) - x||_1, mean over pixels."""
    return F.l1_loss(reconstructed.float(), original.float())


def identity_loss(translated_target: Tensor, target: Tensor) -> Tensor:
    """||G(y) - y||_1 for a target-domain image y fed to the generator, mean over pixels."""
    return F.l1_loss(translated_target.float(), target.float())
