"""The conditional contrastive (2C) loss of ContraGAN (Kang & Park, 2020).

Discriminator embeddings l_i and class proxies e(y_i) are L2-normalised; for sample i of a batch of m:

    -log( [exp(l_i.e(y_i)/t) + sum_{k!=i, y_k=y_i} exp(l_i.l_k/t)] / [exp(l_i.e(y_i)/t) + sum_{k!=i} exp(l_i.l_k/t)] )

averaged over the batch. The discriminator minimises it on real images with their labels, the generator on
its images with the labels it was asked for. The adversarial terms next to it are the hinge losses of
`pairless.losses.adversarial`; the auxiliary classifier of ACGAN is a plain cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def conditional_contrastive_loss(embeddings: Tensor, proxies: Tensor, labels: Tensor,
                                 temperature: float = 1.0) -> Tensor:
    """2C loss of embeddings [m, d] against the proxies of their own classes [m, d] (labels [m])."""
    embeddings = F.normalize(embeddings.float(), dim=1)
    proxies = F.normalize(proxies.float(), dim=1)
    to_proxy = (embeddings * proxies).sum(1, keepdim=True) / temperature
    to_others = embeddings @ embeddings.T / temperature
    others = ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positives = others & (labels[:, None] == labels[None, :])
    log_numerator = torch.logsumexp(torch.cat([to_proxy, to_others.masked_fill(~positives, -torch.inf)], 1), 1)
    log_denominator = torch.logsumexp(torch.cat([to_proxy, to_others.masked_fill(~others, -torch.inf)], 1), 1)
    return (log_denominator - log_numerator).mean()
