"""Feature matching against direct per-channel computations."""

import pytest
import torch

from pairless.losses.feature_matching import discogan_feature_matching, mean_feature_l1


def test_mean_feature_l1_matches_direct_computation():
    torch.manual_seed(0)
    real = [torch.randn(2, 3, 4, 4), torch.randn(2, 5, 2, 2)]
    fake = [torch.randn(3, 3, 4, 4), torch.randn(3, 5, 2, 2)]
    per_layer = []
    for r, f in zip(real, fake, strict=True):
        channels = r.shape[1]
        per_layer.append(sum(abs(float(r[:, c].mean()) - float(f[:, c].mean())) for c in range(channels)) / channels)
    assert float(mean_feature_l1(real, fake)) == pytest.approx(sum(per_layer) / 2, rel=1e-5)


def test_mean_feature_l1_is_zero_for_equal_statistics_and_sends_gradient_to_fake_only():
    real = torch.randn(4, 3, 2, 2)
    fake = real.flip(0).clone().requires_grad_(True)  # same batch, other order: same means
    loss = mean_feature_l1([real], [fake])
    assert float(loss.detach()) == pytest.approx(0, abs=1e-6)
    (mean_feature_l1([real], [fake + 1])).backward()
    assert fake.grad.abs().sum() > 0


def test_discogan_form_matches_direct_computation():
    torch.manual_seed(0)
    real, fake = [torch.randn(2, 2, 3, 3)], [torch.randn(2, 2, 3, 3)]
    diff = (real[0][0] + real[0][1]) / 2 - (fake[0][0] + fake[0][1]) / 2
    assert float(discogan_feature_matching(real, fake)) == pytest.approx(float((diff ** 2).mean()), rel=1e-5)
