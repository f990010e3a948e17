"""Total variation against a direct loop over pixels."""

import math

import pytest
import torch

from pairless.losses.tv import total_variation


def test_matches_direct_computation():
    torch.manual_seed(0)
    z = torch.randn(2, 3, 4, 5)
    terms = []
    for n in range(2):
        for i in range(3):
            for j in range(4):
                terms.append(sum(math.sqrt(float((z[n, c, i, j + 1] - z[n, c, i, j]) ** 2
                                                 + (z[n, c, i + 1, j] - z[n, c, i, j]) ** 2) + 1e-8)
                                 for c in range(3)))
    assert float(total_variation(z)) == pytest.approx(sum(terms) / len(terms), rel=1e-5)


def test_flat_image_has_no_variation_and_finite_gradient():
    z = torch.ones(1, 3, 8, 8, requires_grad=True)
    loss = total_variation(z)
    loss.backward()
    assert loss.item() < 1e-3 and torch.isfinite(z.grad).all()
