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
    """Fréchet distance between Gaussians fitted to two feature sets [N, D]."""
    stats_1 = fid_features_to_statistics(features_1.double().cpu())
    stats_2 = fid_features_to_statistics(features_2.double().cpu())
    return float(fid_statistics_to_metric(stats_1, stats_2, verbose=False)[KEY_METRIC_FID])


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
