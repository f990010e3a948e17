import numpy as np
import pytest
import torch
from scipy import linalg

from pairless.eval.distribution import diversity_ratio, fid, kid, mean_pairwise_distance


def gaussian_features(n, mean, scale, seed):
    """n samples of a Gaussian with the given mean and covariance scale^2 M M^T (M fixed per dimension)."""
    mixing = np.random.default_rng(len(mean)).normal(size=(len(mean), len(mean))) * scale
    samples = np.random.default_rng(seed).normal(size=(n, len(mean)))
    return torch.from_numpy(samples @ mixing + np.asarray(mean))


def direct_fid(x: np.ndarray, y: np.ndarray) -> float:
    mu_x, mu_y = x.mean(0), y.mean(0)
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = linalg.sqrtm(cov_x @ cov_y).real
    return float(((mu_x - mu_y) ** 2).sum() + np.trace(cov_x + cov_y - 2 * root))


def direct_kid(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the kernel (x.y / d + 1)^3 over the whole sets."""
    d, m = x.shape[1], len(x)
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    off_diagonal = lambda kk: (kk.sum() - np.trace(kk)) / (m * (m - 1))  # noqa: E731
    return float(off_diagonal(kxx) + off_diagonal(kyy) - 2 * kxy.mean())


def test_fid_matches_the_formula_on_known_gaussians():
    x = gaussian_features(400, [0.0] * 6, 1.0, seed=1)
    y = gaussian_features(400, [1.0, 0.5, 0, 0, 0, -1.0], 0.7, seed=2)
    assert fid(x, y) == pytest.approx(direct_fid(x.numpy(), y.numpy()), rel=1e-6)
    # population value: |mu|^2 = 2.25 dominates; a shift by 0 and identical sets give ~0
    assert fid(x, x) == pytest.approx(0.0, abs=1e-6)
    assert fid(x, y) > 2.0


def test_kid_with_whole_set_subsets_equals_the_unbiased_mmd():
    x = gaussian_features(200, [0.0] * 5, 1.0, seed=3)
    y = gaussian_features(200, [2.0] * 5, 1.0, seed=4)
    mean, std = kid(x, y)
    assert mean == pytest.approx(direct_kid(x.numpy(), y.numpy()), rel=1e-6)
    assert std == pytest.approx(0.0, abs=1e-9)
    same_distribution = gaussian_features(200, [0.0] * 5, 1.0, seed=3 + 100)
    assert abs(kid(x, same_distribution)[0]) < 0.2 * mean


def test_distances_grow_with_the_shift():
    base = gaussian_features(300, [0.0] * 4, 1.0, seed=5)
    other = gaussian_features(300, [0.0] * 4, 1.0, seed=6)
    fids = [fid(base, other + shift) for shift in (0.0, 0.5, 1.0, 2.0)]
    kids = [kid(base, other + shift)[0] for shift in (0.0, 0.5, 1.0, 2.0)]
    assert fids == sorted(fids) and kids == sorted(kids)


def test_mean_pairwise_distance_and_a_constant_model_flagged():
    points = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 8.0]])
    assert mean_pairwise_distance(points) == pytest.approx((5 + 8 + 5) / 3)
    real = torch.randn(20, 10)
    constant = torch.randn(1, 10).expand(20, 10)
    assert diversity_ratio(constant, real) == pytest.approx(0.0, abs=1e-6)
    assert diversity_ratio(real * 1.0, real) == pytest.approx(1.0)


@pytest.mark.parametrize(("n_1", "n_2", "dim"), [(30, 40, 64), (64, 64, 64), (5, 7, 512)])
def test_fid_of_sets_smaller_than_their_dimension_is_torch_fidelitys_number(n_1, n_2, dim):
    """Test splits have fewer images than Inception has dimensions; FID then takes the n1 × n2 route."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

    x = gaussian_features(n_1, [0.0] * dim, 1.0, seed=7)
    y = gaussian_features(n_2, [0.2] * dim, 0.8, seed=8)
    expected = fid_statistics_to_metric(fid_features_to_statistics(x), fid_features_to_statistics(y), False)
    assert fid(x, y) == pytest.approx(expected[KEY_METRIC_FID], rel=1e-6)
    assert fid(x, x) == pytest.approx(0.0, abs=1e-9 * dim)
