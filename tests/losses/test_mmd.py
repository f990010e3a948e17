"""MMD against a direct double sum, ~0 for identical samples, growing with a mean shift."""

import math

import pytest
import torch

from pairless.losses.mmd import median_distance, mmd2_unbiased


def direct_mmd2(x, y, bandwidths):
    def k(a, b):
        d = float(((a - b) ** 2).sum())
        return sum(math.exp(-d / (2 * s * s)) for s in bandwidths)

    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


def test_matches_direct_computation():
    torch.manual_seed(0)
    x, y = torch.randn(6, 4), torch.randn(5, 4) + 0.5
    bandwidths = [0.5, 1.0, 3.0]
    assert float(mmd2_unbiased(x, y, bandwidths)) == pytest.approx(direct_mmd2(x, y, bandwidths), rel=1e-5)


def test_identical_samples_give_about_zero():
    torch.manual_seed(0)
    x = torch.randn(200, 8)
    bandwidths = [0.5, 1.0, 2.0]
    # With x = y exactly, the unbiased estimate is 2 (mean off-diagonal k - sum of bandwidth terms) / n.
    assert abs(float(mmd2_unbiased(x, x, bandwidths))) < 2 * len(bandwidths) / 200
    same_distribution = float(mmd2_unbiased(x, torch.randn(200, 8), bandwidths))
    assert abs(same_distribution) < 0.02


def test_grows_with_a_mean_shift():
    torch.manual_seed(0)
    x, noise = torch.randn(150, 8), torch.randn(150, 8)
    scale = float(median_distance(x, noise))
    values = [float(mmd2_unbiased(x, noise + shift, [scale])) for shift in (0.0, 0.25, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[-1] > 10 * abs(values[0])


def test_median_distance_is_the_median_pairwise_distance():
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[3.0]])
    # pairwise distances 1, 3, 2 -> median 2
    assert float(median_distance(x, y)) == 2.0
