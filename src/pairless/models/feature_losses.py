"""Extra generator terms any translator can switch on: `--loss-mmd W` and `--loss-feature-matching W`.

Both compare the discriminator's intermediate features of real target images with those of generated
ones (the discriminator's `features(images)` method), and send gradient only into the generator:
- MMD between the feature vectors of all positions (each layer's spatial positions are samples, so it
  works at batch size 1), Gaussian kernels at several multiples of the median pairwise distance,
  unbiased estimate, averaged over layers;
- feature matching: L1 between the mean features of the real and the generated batch, averaged over layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from pairless.errors import PairlessError
from pairless.fields import Checked, bounded
from pairless.losses.feature_matching import mean_feature_l1
from pairless.losses.mmd import median_distance, mmd2_unbiased
from pairless.losses.total import total


@dataclass
class FeatureLossOptions(Checked):
    """Mixed into a model config; both weights 0 (off) unless the method's preset says otherwise."""

    loss_mmd: float = bounded(0.0, at_least=0)
    """Weight of the MMD between discriminator features of real and generated images (0 = off)."""
    loss_feature_matching: float = bounded(0.0, at_least=0)
    """Weight of the L1 distance between mean discriminator features of real and generated images."""
    mmd_bandwidths: tuple[float, ...] = bounded((0.5, 1.0, 2.0, 4.0), above=0)
    """Gaussian kernel widths, as multiples of the median pairwise feature distance."""
    mmd_samples: int = bounded(256, at_least=2)
    """At most this many feature vectors per set and layer enter the MMD (random positions)."""

    def cross_check(self) -> None:
        if not self.mmd_bandwidths:
            raise PairlessError("--mmd-bandwidths needs at least one positive value")

    def feature_weights(self, *suffixes: str) -> dict[str, float]:
        """The declared weights of the terms `feature_losses` returns with these suffixes."""
        return {f"{kind}{suffix}": weight for suffix in suffixes or ("",)
                for kind, weight in (("mmd", self.loss_mmd), ("fm", self.loss_feature_matching))}


class FeatureDiscriminator(Protocol):
    def features(self, images: Tensor) -> Sequence[Tensor]:
        """Intermediate feature maps [N, C, H, W], one per layer."""
        ...


def feature_losses(options: FeatureLossOptions, discriminator: FeatureDiscriminator, real: Tensor, fake: Tensor,
                   suffix: str = "") -> dict[str, Tensor]:
    """The enabled terms, raw (their weights: `options.feature_weights`), keyed `mmd{suffix}` / `fm{suffix}`;
    {} when both are off.

    Call it where the discriminator is frozen (the generator's update): real features carry no graph.
    """
    if not (options.loss_mmd or options.loss_feature_matching):
        return {}
    with torch.no_grad():
        real_features = discriminator.features(real)
    fake_features = discriminator.features(fake)
    losses = {}
    if options.loss_mmd:
        terms = [layer_mmd(r, f, options) for r, f in zip(real_features, fake_features, strict=True)]
        losses[f"mmd{suffix}"] = total(terms) / len(terms)
    if options.loss_feature_matching:
        losses[f"fm{suffix}"] = mean_feature_l1(real_features, fake_features)
    return losses


def layer_mmd(real: Tensor, fake: Tensor, options: FeatureLossOptions) -> Tensor:
    x, y = position_samples(real, options.mmd_samples), position_samples(fake, options.mmd_samples)
    scale = median_distance(x, y)
    return mmd2_unbiased(x, y, scale * torch.tensor(options.mmd_bandwidths, device=scale.device))


def position_samples(features: Tensor, limit: int) -> Tensor:
    """[N, C, H, W] -> [min(N*H*W, limit), C]: the feature vectors of (randomly chosen) positions."""
    vectors = features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])
    if len(vectors) > limit:
        vectors = vectors[torch.randperm(len(vectors), device=vectors.device)[:limit]]
    return vectors
