"""PatchNCE: contrastive loss between patches of an output and the same-place patches of its input (CUT)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Negatives = Literal["image", "batch"]

# The reference fills the query-with-itself entries of the negative logits with -10 (before dividing
# by the temperature) rather than -inf, which keeps them as a near-zero-weight class.
SELF_SIMILARITY_FILL = -10.0


def patch_nce_loss(query: Tensor, key: Tensor, batch_size: int, temperature: float = 0.07,
                   negatives: Negatives = "image") -> Tensor:
    """InfoNCE over sampled patches, averaged over patches.

    query, key: [batch_size * P, D] L2-normalised embeddings, patch i of the query matching patch i of the
    key. The positive of query i is key i; its negatives are the other keys of the same image
    ("image") or of the whole minibatch ("batch", for single-image training). Keys get no gradient.
    """
    key = key.detach()
    dim = query.shape[1]
    positives = (query * key).sum(dim=1, keepdim=True)
    groups = batch_size if negatives == "image" else 1
    q = query.reshape(groups, -1, dim)
    k = key.reshape(groups, -1, dim)
    negative = torch.bmm(q, k.transpose(1, 2))
    n = negative.shape[-1]
    eye = torch.eye(n, dtype=torch.bool, device=query.device)
    negative = negative.masked_fill(eye, SELF_SIMILARITY_FILL).reshape(-1, n)
    logits = torch.cat([positives, negative], dim=1).float() / temperature
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=query.device)
    return F.cross_entropy(logits, target)


def multilayer_patch_nce_loss(queries: Sequence[Tensor], keys: Sequence[Tensor], batch_size: int,
                              temperature: float = 0.07, negatives: Negatives = "image") -> Tensor:
    """Mean of `patch_nce_loss` over feature layers."""
    losses = [patch_nce_loss(q, k, batch_size, temperature, negatives) for q, k in zip(queries, keys, strict=True)]
    return torch.stack(losses).mean()
