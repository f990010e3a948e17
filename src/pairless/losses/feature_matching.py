"""Feature matching: the generator matches statistics of the discriminator's intermediate features.

- `mean_feature_l1` (Salimans et al., "Improved techniques for training GANs"): per layer, the L1
  distance between the mean feature vectors (over batch and positions) of real and generated images.
- `discogan_feature_matching`: the DiscoGAN reference's form, the mean squared difference between the
  batch-mean feature maps (positions kept apart), summed over layers.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from pairless.losses.total import total


def mean_feature_l1(real: Sequence[Tensor], fake: Sequence[Tensor]) -> Tensor:
    """Mean over layers of mean_c |mu_real[c] - mu_fake[c]|, mu = mean over batch and positions."""
    terms = [(r.float().mean(dim=(0, 2, 3)) - f.float().mean(dim=(0, 2, 3))).abs().mean()
             for r, f in zip(real, fake, strict=True)]
    return total(terms) / len(terms)


def discogan_feature_matching(real: Sequence[Tensor], fake: Sequence[Tensor]) -> Tensor:
    """Sum over layers of mean_{c,h,w} (mean_n real - mean_n fake)^2."""
    return total((r.float().mean(0) - f.float().mean(0)).pow(2).mean() for r, f in zip(real, fake, strict=True))
