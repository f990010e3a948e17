"""The conditional contrastive (2C) loss of ContraGAN (Kang & Park, 2020).

Discriminator embeddings l_i and class proxies e(y_i) are L2-normalised; for sample i of a batch of m:

    -log( [exp(l_i.e(y_i)/t) + sum_{k!=i, y_k=y_i} exp(l_i.l_k/t)] / [exp(l_i.e(y_i)/t) + sum_{k!=i} exp(l_i.l_k/t)] )

averaged over the batch. The discriminator minimises it on real images with their labels, the generator on
its images with the labels it was asked for. In multi-process training the l_k range over every process's
batch (`others`), as the reference gathers them across GPUs, so the loss does not depend on the number of
processes. The adversarial terms next to it are the hinge losses of
`pairless.losses.adversarial`; the auxiliary classifier of ACGAN is a plain cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def conditional_contrastive_loss(embeddings: Tensor, proxies: Tensor, labels: Tensor, temperature: float = 1.0,
                                 others: tuple[Tensor, Tensor, int] | None = None) -> Tensor:
    """2C loss of embeddings [m, d] against the proxies of their own classes [m, d] (labels [m]).

    `others` = (embeddings [M, d], labels [M], offset): the batch the l_k come from when it is larger than
    this one (every process's), which holds this batch at rows offset..offset+m-1; default: this batch.
    """
    embeddings = F.normalize(embeddings.float(), dim=1)
    if others is None:
        all_embeddings, all_labels, offset = embeddings, labels, 0
    else:
        all_embeddings, all_labels, offset = F.normalize(others[0].float(), dim=1), others[1], others[2]
    proxies = F.normalize(proxies.float(), dim=1)
    to_proxy = (embeddings * proxies).sum(1, keepdim=True) / temperature
    to_others = embeddings @ all_embeddings.T / temperature
    rows = torch.arange(len(labels), device=labels.device)
    not_self = torch.ones_like(to_others, dtype=torch.bool)
    not_self[rows, rows + offset] = False
    positives = not_self & (labels[:, None] == all_labels[None, :])
    log_numerator = torch.logsumexp(torch.cat([to_proxy, to_others.masked_fill(~positives, -torch.inf)], 1), 1)
    log_denominator = torch.logsumexp(torch.cat([to_proxy, to_others.masked_fill(~not_self, -torch.inf)], 1), 1)
    return (log_denominator - log_numerator).mean()
