import math

import pytest
import torch

from pairless.losses.adversarial import GAN_MODES, discriminator_loss, generator_loss

REAL = torch.tensor([[0.5, -1.2], [2.0, 0.1]])
FAKE = torch.tensor([[-0.3, 0.8], [1.5, -2.5]])


def direct_d(mode, real, fake):
    r, f = real.flatten().tolist(), fake.flatten().tolist()
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    if mode == "lsgan":
        return mean([(x - 1) ** 2 for x in r]) + mean([x ** 2 for x in f])
    if mode in ("vanilla", "nonsaturating"):  # -log sigmoid(real) - log(1 - sigmoid(fake))
        sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
        return mean([-math.log(sig(x)) for x in r]) + mean([-math.log(1 - sig(x)) for x in f])
    return mean([max(0, 1 - x) for x in r]) + mean([max(0, 1 + x) for x in f])


def direct_g(mode, fake):
    f = fake.flatten().tolist()
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    if mode == "lsgan":
        return mean([(x - 1) ** 2 for x in f])
    if mode in ("vanilla", "nonsaturating"):
        return mean([-math.log(1 / (1 + math.exp(-x))) for x in f])
    if mode == "hinge_saturating":
        return mean([max(0, 1 - x) for x in f])
    return -mean(f)


@pytest.mark.parametrize("mode", GAN_MODES)
def test_losses_match_formulas(mode):
    assert discriminator_loss(mode, REAL, FAKE).item() == pytest.approx(direct_d(mode, REAL, FAKE), rel=1e-5)
    assert generator_loss(mode, FAKE).item() == pytest.approx(direct_g(mode, FAKE), rel=1e-5)


def test_perfect_discriminator_has_zero_lsgan_and_hinge_loss():
    assert discriminator_loss("lsgan", torch.ones(3), torch.zeros(3)).item() == 0
    assert discriminator_loss("hinge", torch.full((3,), 1.5), torch.full((3,), -1.5)).item() == 0


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="unknown GAN mode"):
        generator_loss("wasserstein-ish", FAKE)
