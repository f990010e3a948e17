"""R1 gradient penalty (Mescheder et al., "Which training methods for GANs do actually converge?", 2018)."""

from __future__ import annotations

import torch
from torch import Tensor


def r1_penalty(real_scores: Tensor, real_images: Tensor) -> Tensor:
    """Mean over the batch of ||grad_x D(x)||^2 at the real images, differentiable w.r.t. D's weights.

    `real_images` must require grad and `real_scores` must be D's output on them (any shape: each
    image's outputs are summed). The caller weights it; StyleGAN2 and SinCUT add 0.5 * lambda_R1 times this
    to the discriminator loss.
    """
    (gradient,) = torch.autograd.grad(real_scores.float().sum(), real_images, create_graph=True)
    return gradient.float().pow(2).flatten(1).sum(1).mean()
