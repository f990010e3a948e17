"""DTN's three-way GAN loss against a direct log-softmax computation."""

import pytest
import torch

from pairless.losses.ternary import (
    FAKE_FROM_SOURCE,
    FAKE_FROM_TARGET,
    REAL_TARGET,
    class_loss,
    ternary_discriminator_loss,
    ternary_generator_loss,
)


def direct(logits, label):
    return float(-torch.log_softmax(logits, 1)[:, label].mean())


def test_losses_match_direct_cross_entropy():
    torch.manual_seed(0)
    s, t, r = torch.randn(2, 3, 2, 2), torch.randn(2, 3, 2, 2), torch.randn(2, 3, 2, 2)
    assert float(class_loss(s, 1)) == pytest.approx(direct(s, 1), rel=1e-5)
    expected_d = direct(s, FAKE_FROM_SOURCE) + direct(t, FAKE_FROM_TARGET) + direct(r, REAL_TARGET)
    assert float(ternary_discriminator_loss(s, t, r)) == pytest.approx(expected_d, rel=1e-5)
    expected_g = direct(s, REAL_TARGET) + direct(t, REAL_TARGET)
    assert float(ternary_generator_loss(s, t)) == pytest.approx(expected_g, rel=1e-5)
