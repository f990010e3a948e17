import torch

from pairless.losses.reconstruction import cycle_loss, identity_loss


def test_l1_terms_are_mean_absolute_differences():
    a = torch.tensor([[0.0, 1.0], [-1.0, 0.5]])
    b = torch.tensor([[0.5, 1.0], [1.0, 0.0]])
    expected = (0.5 + 0.0 + 2.0 + 0.5) / 4
    assert cycle_loss(a, b).item() == expected
    assert identity_loss(a, b).item() == expected
    assert cycle_loss(a, a).item() == 0
