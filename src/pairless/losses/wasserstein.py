"""Wasserstein GAN objectives: the critic's loss, weight clipping (Arjovsky et al.) and the gradient
penalty (Gulrajani et al.). A critic may output a patch map; its value for an image is the map's mean."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def critic_loss(real: Tensor, fake: Tensor) -> Tensor:
    """E[C(fake)] - E[C(real)]: the critic minimises it (maximises the estimated Wasserstein distance)."""
    return fake.float().mean() - real.float().mean()


def wasserstein_generator_loss(fake: Tensor) -> Tensor:
    """-E[C(G(z))]."""
    return -fake.float().mean()


@torch.no_grad()
def clip_weights(module: nn.Module, limit: float) -> None:
    """Clamp every parameter of `module` to [-limit, limit] (WGAN's crude Lipschitz constraint)."""
    for p in module.parameters():
        p.clamp_(-limit, limit)


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """E[(||grad_x C(x)||_2 - 1)^2] at random points x on the lines between real and fake samples.

    C(x) is the mean of the critic's output for each image; the penalty keeps its graph so the critic
    can be trained on it (double backpropagation).
    """
    alpha = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype)
    points = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    values = critic(points).flatten(1).mean(1)
    (gradients,) = torch.autograd.grad(values.sum(), points, create_graph=True)
    return (gradients.flatten(1).norm(dim=1) - 1).pow(2).mean()
