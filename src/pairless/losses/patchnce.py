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
    return patch_nce_terms(query, key, batch_size, temperature, negatives).mean()


def patch_nce_terms(query: Tensor, key: Tensor, batch_size: int, temperature: float = 0.07,
                    negatives: Negatives = "image", parts: int = 1) -> Tensor:
    """The loss of each query patch, [..., batch_size * P], for query and key [..., batch_size * P, D]
    (leading dimensions, e.g. stacked layers, are scored independently). With `parts`, the batch is that
    many equal parts and "batch" negatives come from the query's own part only."""
    key = key.detach()
    *leading, rows, dim = query.shape
    groups = batch_size if negatives == "image" else parts
    q = query.reshape(-1, rows // groups, dim)
    similarity = torch.bmm(q, key.reshape(-1, rows // groups, dim).transpose(1, 2))
    n = similarity.shape[-1]
    positives = similarity.diagonal(dim1=1, dim2=2).unsqueeze(2)
    eye = torch.eye(n, dtype=torch.bool, device=query.device)
    negative = similarity.masked_fill(eye, SELF_SIMILARITY_FILL)
    logits = torch.cat([positives, negative], dim=2).float().reshape(-1, n + 1) / temperature
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=query.device)
    return F.cross_entropy(logits, target, reduction="none").reshape(*leading, rows)


def grouped_patch_nce_loss(queries: Sequence[Tensor], keys: Sequence[Tensor], batch_size: int,
                           temperature: float = 0.07, negatives: Negatives = "image", parts: int = 1) -> Tensor:
    """Mean of `patch_nce_loss` over layers given as groups of stacked layers, [layers, batch_size * P, D]
    (P may differ between groups); with `parts`, one such mean per equal part of the batch, [parts]."""
    layer_means = [patch_nce_terms(q, k, batch_size, temperature, negatives, parts)
                   .reshape(q.shape[0], parts, -1).mean(2) for q, k in zip(queries, keys, strict=True)]
    loss = (torch.cat(layer_means) if len(layer_means) > 1 else layer_means[0]).mean(0)
    return loss if parts > 1 else loss[0]


def multilayer_patch_nce_loss(queries: Sequence[Tensor], keys: Sequence[Tensor], batch_size: int,
                              temperature: float = 0.07, negatives: Negatives = "image") -> Tensor:
    """Mean of `patch_nce_loss` over feature layers."""
    losses = [patch_nce_loss(q, k, batch_size, temperature, negatives) for q, k in zip(queries, keys, strict=True)]
    return torch.stack(losses).mean()
