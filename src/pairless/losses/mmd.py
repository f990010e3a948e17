"""Maximum mean discrepancy between two sets of feature vectors (Gretton et al., JMLR 2012).

With a kernel k, MMD^2(P, Q) = E k(x, x') + E k(y, y') - 2 E k(x, y). The unbiased estimate drops the
i = j terms of the two within-set means. The kernel here is a sum of Gaussians at several bandwidths,
k(x, y) = sum_s exp(-||x - y||^2 / (2 s^2)), so that no single length scale has to be right.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def squared_distances(x: Tensor, y: Tensor) -> Tensor:
    """||x_i - y_j||^2 for [n, d] and [m, d] inputs, as an [n, m] matrix (never negative)."""
    return (x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1) - 2 * x @ y.T).clamp_min(0)


def gaussian_kernel(distances: Tensor, bandwidths: Sequence[float] | Tensor) -> Tensor:
    """Sum over bandwidths s of exp(-d / (2 s^2)) for squared distances d."""
    bandwidths = torch.as_tensor(bandwidths, dtype=distances.dtype, device=distances.device)
    return torch.exp(-distances[..., None] / (2 * bandwidths.pow(2))).sum(-1)


def mmd2_unbiased(x: Tensor, y: Tensor, bandwidths: Sequence[float] | Tensor) -> Tensor:
    """Unbiased MMD^2 estimate between samples x [n, d] and y [m, d] (n, m >= 2); can be slightly negative."""
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"the unbiased MMD needs at least 2 samples per set, got {n} and {m}")
    x, y = x.float(), y.float()
    k_xx = gaussian_kernel(squared_distances(x, x), bandwidths)
    k_yy = gaussian_kernel(squared_distances(y, y), bandwidths)
    k_xy = gaussian_kernel(squared_distances(x, y), bandwidths)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return within_x + within_y - 2 * k_xy.mean()


def median_distance(x: Tensor, y: Tensor) -> Tensor:
    """Median pairwise distance of the pooled samples (the median heuristic's bandwidth), without gradient."""
    with torch.no_grad():
        pooled = torch.cat([x, y]).float()
        distances = squared_distances(pooled, pooled)
        off_diagonal = distances[~torch.eye(len(pooled), dtype=torch.bool, device=pooled.device)]
        return off_diagonal.median().clamp_min(1e-12).sqrt()
