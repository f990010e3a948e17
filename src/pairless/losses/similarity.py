"""SimDCL's similarity loss between embeddings of real and generated images of the same domain."""

from __future__ import annotations

from torch import Tensor


def similarity_loss(real: Tensor, generated: Tensor) -> Tensor:
    """Mean absolute difference between [B, dim] embeddings (the reference's effective L1 reduction)."""
    return (real.float() - generated.float()).abs().mean()
