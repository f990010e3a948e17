"""Distances between sets of image features: FID and KID (torch-fidelity's implementations), and the
diversity of a set, used to detect mode collapse."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

KID_SUBSETS = 100
KID_MAX_SUBSET = 1000


def fid(features_1: Tensor, features_2: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets [N, D]: |μ1 - μ2|² + tr Σ1 + tr Σ2
    - 2 tr (Σ1 Σ2)^½, with torch-fidelity's statistics and its sum of the square roots of the eigenvalues of
    Σ1 Σ2, or, when a set has no more samples than dimensions, `low_rank_fid`: the same number, cheaper."""
    features_1, features_2 = features_1.double().cpu(), features_2.double().cpu()
    if min(len(features_1), len(features_2)) <= features_1.shape[1]:
        return low_rank_fid(features_1, features_2)
    stats_1 = fid_features_to_statistics(features_1)
    stats_2 = fid_features_to_statistics(features_2)
    return float(fid_statistics_to_metric(stats_1, stats_2, verbose=False)[KEY_METRIC_FID])


def low_rank_fid(features_1: Tensor, features_2: Tensor) -> float:
    """FID through the centred features X1 [n1, D], X2 [n2, D] (scaled by 1/√(n - 1), so Σ = XᵀX): the
    nonzero eigenvalues of Σ1 Σ2 = X1ᵀ X1 X2ᵀ X2 are those of C Cᵀ with C = X1 X2ᵀ, so tr (Σ1 Σ2)^½ is the
    sum of C's singular values. C is n1 × n2: a test split of a few hundred images in Inception's 2048
    dimensions takes milliseconds instead of the eigenvalues of a 2048 × 2048 product (seconds), and the
    eigenvalues that are zero are not summed as square roots of rounding noise."""
    x1 = (features_1 - features_1.mean(0)) / (len(features_1) - 1) ** 0.5
    x2 = (features_2 - features_2.mean(0)) / (len(features_2) - 1) ** 0.5
    shift = ((features_1.mean(0) - features_2.mean(0)) ** 2).sum()
    cross = torch.linalg.matrix_norm(x1 @ x2.T, ord="nuc")
    return float(shift + (x1 ** 2).sum() + (x2 ** 2).sum() - 2 * cross)


def kid(features_1: Tensor, features_2: Tensor, seed: int = 0) -> tuple[float, float]:
    """Kernel (cubic polynomial) MMD, unbiased, mean and std over random subsets (Binkowski et al.).

    Subsets hold min(1000, both set sizes) samples, so small test sets work too.
    """
    subset = min(KID_MAX_SUBSET, len(features_1), len(features_2))
    out = kid_features_to_metric(features_1.double().cpu(), features_2.double().cpu(), kid_subsets=KID_SUBSETS,
                                 kid_subset_size=subset, kid_kernel="poly", kid_kernel_poly_degree=3,
                                 kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1, rng_seed=seed,
                                 verbose=False)
    return float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD])


def mean_pairwise_distance(vectors: Tensor) -> float:
    """Mean Euclidean distance over all pairs of distinct rows of [N, D]."""
    vectors = vectors.double().flatten(1)
    n = len(vectors)
    if n < 2:
        return float("nan")
    distances = torch.cdist(vectors, vectors)
    return float(distances.sum() / (n * (n - 1)))


def diversity_ratio(generated: Tensor, real: Tensor) -> float:
    """Spread of generated samples relative to real ones (1 = as varied as real data, 0 = all identical)."""
    return mean_pairwise_distance(generated) / mean_pairwise_distance(real)
