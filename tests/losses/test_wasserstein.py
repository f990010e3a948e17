"""WGAN critic loss, weight clipping and the gradient penalty against direct computations."""

import pytest
import torch
from torch import nn

from pairless.losses.wasserstein import clip_weights, critic_loss, gradient_penalty, wasserstein_generator_loss


def test_critic_and_generator_losses():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.5, -0.5, 2.0])
    assert float(critic_loss(real, fake)) == pytest.approx(2 / 3 - 2)
    assert float(wasserstein_generator_loss(fake)) == pytest.approx(-2 / 3)


def test_clip_weights_bounds_every_parameter():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 1, 1))
    nn.init.normal_(net[0].weight, 0, 1)
    clip_weights(net, 0.05)
    assert all(p.abs().max() <= 0.05 for p in net.parameters())
    assert any((p.abs() == 0.05).any() for p in net.parameters())


def test_penalty_of_a_linear_critic_is_known_in_closed_form():
    """C(x) = mean over positions of w.x + b has gradient w / (H W) at every position, so
    ||grad|| = |w| / sqrt(H W) for every interpolate."""
    critic = nn.Conv2d(3, 1, 1)
    real, fake = torch.randn(4, 3, 5, 5), torch.randn(4, 3, 5, 5)
    expected = (critic.weight.norm() / 5 - 1) ** 2
    assert float(gradient_penalty(critic, real, fake).detach()) == pytest.approx(float(expected.detach()), rel=1e-5)


def test_penalty_matches_per_sample_autograd_and_trains_the_critic():
    critic = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    real, fake = torch.randn(3, 3, 6, 6), torch.randn(3, 3, 6, 6)
    torch.manual_seed(5)
    penalty = gradient_penalty(critic, real, fake)
    torch.manual_seed(5)
    alpha = torch.rand(3, 1, 1, 1)
    direct = []
    for i in range(3):
        point = (alpha[i] * real[i] + (1 - alpha[i]) * fake[i])[None].requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(point).mean(), point)
        direct.append((grad.norm() - 1) ** 2)
    assert float(penalty.detach()) == pytest.approx(float(sum(direct) / 3), rel=1e-5)
    penalty.backward()
    assert critic[0].weight.grad.abs().sum() > 0
