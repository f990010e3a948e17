import torch
import torch.nn.functional as F

from pairless.losses.similarity import similarity_loss


def test_similarity_is_the_mean_absolute_difference():
    torch.manual_seed(0)
    real, fake = F.normalize(torch.randn(3, 64), dim=1), F.normalize(torch.randn(3, 64), dim=1)
    expected = sum(abs(float(r) - float(g)) for row_r, row_g in zip(real, fake, strict=True)
                   for r, g in zip(row_r, row_g, strict=True)) / (3 * 64)
    assert abs(similarity_loss(real, fake).item() - expected) < 1e-6
    assert similarity_loss(real, real).item() == 0
