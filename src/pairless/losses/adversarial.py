"""GAN objectives on raw discriminator outputs (logits or patch maps), each as a D-side and a G-side loss.

- lsgan: D (D(x) - 1)^2 + D(G(z))^2, G (D(G(z)) - 1)^2 (Mao et al.)
- vanilla: binary cross-entropy on logits; G uses the non-saturating target "real" (Goodfellow et al.,
  as the CycleGAN code trains it)
- nonsaturating: the same functions under the name the StyleGAN2 / SinCUT code uses
- hinge: D relu(1 - D(x)) + relu(1 + D(G(z))), G -D(G(z)) (Lim & Ye; Miyato et al.)
- hinge_saturating: the hinge D loss, and G relu(1 - D(G(z))), which stops pushing once D(G(z)) >= 1
  (the form the DCLGAN code trains G with)

The D loss is the plain sum of the real and fake terms; methods that halve it (CycleGAN, CUT) do so.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

GanMode = Literal["lsgan", "vanilla", "nonsaturating", "hinge", "hinge_saturating"]
GAN_MODES: tuple[str, ...] = ("lsgan", "vanilla", "nonsaturating", "hinge", "hinge_saturating")


def discriminator_loss(mode: GanMode, real: Tensor, fake: Tensor) -> Tensor:
    """Loss of the discriminator given its outputs on real and on generated images."""
    real, fake = real.float(), fake.float()
    if mode == "lsgan":
        return F.mse_loss(real, _full_like(real, 1.0)) + F.mse_loss(fake, _full_like(fake, 0.0))
    if mode in ("vanilla", "nonsaturating"):
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if mode in ("hinge", "hinge_saturating"):
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    raise ValueError(f"unknown GAN mode {mode!r}; choose from {', '.join(GAN_MODES)}")


def generator_loss(mode: GanMode, fake: Tensor) -> Tensor:
    """Loss of the generator given the discriminator's outputs on its images."""
    fake = fake.float()
    if mode == "lsgan":
        return F.mse_loss(fake, _full_like(fake, 1.0))
    if mode in ("vanilla", "nonsaturating"):
        return F.softplus(-fake).mean()
    if mode == "hinge":
        return -fake.mean()
    if mode == "hinge_saturating":
        return F.relu(1 - fake).mean()
    raise ValueError(f"unknown GAN mode {mode!r}; choose from {', '.join(GAN_MODES)}")


def _full_like(x: Tensor, value: float) -> Tensor:
    """A constant target shaped as `x` from one scalar (broadcast, not filled): `F.mse_loss` is one op each
    way where the spelled-out square and mean are three forward and three backward."""
    return torch.full((), value, dtype=x.dtype, device=x.device).expand_as(x)
