"""SinCUT: CUT trained on a single image per domain (Park et al., ECCV 2020, Sec. 5 / Fig. 9).

CUT's objective (adversarial + PatchNCE, with the NCE identity term) on StyleGAN2-style networks, as the
reference's `sincut` model sets it up: non-saturating GAN loss, an R1 penalty on real images
(0.5 * lambda_R1 * ||grad D||^2), an L1 identity-preservation term ||G(y) - y||, lambda_NCE 4 on layers
0, 2, 4 with one patch per layer and crop whose negatives are pooled over the minibatch, Adam lr 0.002
with betas (0, 0.99), batches of 16 random 64 px zooms-and-patches of the two images (data/single_image.py),
8 + 8 epochs of 100,000 crops. At test time the generator translates the whole image at full resolution.

Departures from the reference: the generator adds no noise in eval mode (deterministic translation),
and the network widths do not depend on the crop size (see nn/stylegan2.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from pairless.errors import PairlessError
from pairless.fields import bounded
from pairless.losses.adversarial import GanMode, discriminator_loss, generator_loss
from pairless.losses.patchnce import Negatives
from pairless.losses.r1 import r1_penalty
from pairless.losses.reconstruction import identity_loss
from pairless.losses.total import Objective, logged
from pairless.models.base import TranslationModel, Updater, frozen, resolved, same_channels_or_warn
from pairless.models.contrastive import PatchNCEOptions, check_nce_layers
from pairless.models.cut import CUTModel
from pairless.models.feature_losses import FeatureLossOptions, feature_losses
from pairless.models.options import ModelConfig
from pairless.models.registry import register
from pairless.nn.init import init_weights
from pairless.nn.patch_sampler import PatchSampleMLP
from pairless.nn.stylegan2 import D_FINAL_SIZE, StyleGAN2Discriminator, StyleGAN2Generator


@dataclass
class SinCUTConfig(ModelConfig, FeatureLossOptions, PatchNCEOptions):
    nce_layers: tuple[int, ...] = (0, 2, 4)
    num_patches: int = 1
    """Patches per NCE layer and crop; the other crops of the minibatch supply the negatives."""
    nce_negatives: Negatives = "batch"
    width: int = bounded(10, at_least=1)
    """Generator width (the reference's ngf): 8 * width channels at full resolution, doubling per level."""
    d_width: int = bounded(8, at_least=1)
    """Discriminator width (the reference's ndf): 4 * d_width channels at the input, doubling per block."""
    n_downsampling: int = bounded(1, at_least=0)
    """Downsampling levels of the generator."""
    n_blocks: int = bounded(6, at_least=2)
    """Residual blocks at the generator's lowest resolution, half in the encoder and half in the decoder."""
    d_blocks: int | None = bounded(None, at_least=1)
    """Downsampling blocks of the discriminator: it needs log2(--size) - 2 (4 for 64 px crops, 5 for 128 px),
    which None (the default) chooses."""
    gan_mode: GanMode = "nonsaturating"
    lambda_gan: float = bounded(1.0, at_least=0)
    lambda_nce: float = bounded(4.0, at_least=0)
    nce_idt: bool = True
    """Also apply PatchNCE to target-domain crops passed through G (CUT's identity term)."""
    lambda_identity: float = bounded(1.0, at_least=0)
    """Weight of the L1 identity-preservation loss ||G(y) - y||."""
    lambda_r1: float = bounded(1.0, at_least=0)
    """Weight of the R1 gradient penalty on real target crops (added as 0.5 * weight * ||grad D||^2)."""

    def cross_check(self) -> None:
        if self.n_blocks % 2:
            raise PairlessError(f"--n-blocks must be even (half in the encoder, half in the decoder), "
                                f"got {self.n_blocks}")

    def for_size(self, size: int) -> SinCUTConfig:
        if self.d_blocks is not None:
            return self
        blocks = round(math.log2(size / D_FINAL_SIZE))
        if blocks < 1 or D_FINAL_SIZE * 2 ** blocks != size:
            raise PairlessError(f"SinCUT's discriminator takes crops of {D_FINAL_SIZE}·2^k px (8, 16, 32, 64, ...), "
                                f"got --size {size}")
        return replace(self, d_blocks=blocks)


class SinCUTModel(CUTModel):
    """CUT's update on single-image crops with StyleGAN2-style networks, R1 and the identity L1.

    Inherits CUT's PatchNCE scoring, optimiser groups, translation and sample grids; builds its own networks.
    """

    def __init__(self, config: SinCUTConfig, channels_a: int = 3, channels_b: int = 3):
        TranslationModel.__init__(self, config, channels_a, channels_b)
        c = config
        self.G = StyleGAN2Generator(channels_a, channels_b, c.width, c.n_downsampling, c.n_blocks)
        check_nce_layers(self.G, c.nce_layers, c.n_blocks)
        self.D = StyleGAN2Discriminator(channels_b, c.d_width, resolved(c.d_blocks, "d_blocks"))
        self.F = PatchSampleMLP(self.G.feature_channels(c.nce_layers), c.head_dim)
        init_weights(self.F, "xavier", 0.02)
        self.size_multiple = 2 ** c.n_downsampling
        self.use_nce_idt = c.nce_idt and same_channels_or_warn(self, "the NCE identity term (nce_idt)")
        self.use_identity = c.lambda_identity > 0 and same_channels_or_warn(self, "the identity loss")

    def train_step(self, batch: dict[str, Tensor], updater: Updater) -> dict[str, Tensor]:
        c = self.config
        real_a, real_b = batch["A"], batch["B"]
        n = real_a.shape[0]
        with_target = self.use_nce_idt or self.use_identity
        output, features = self.G(torch.cat([real_a, real_b]) if with_target else real_a, c.nce_layers)
        fake_b = output[:n]
        d = self.discriminator_step(real_b, fake_b.detach(), updater)

        with frozen(self.D):
            terms = {"G_gan": generator_loss(c.gan_mode, self.D(fake_b))}
            extra = feature_losses(c, self.D, real_b, fake_b)
        terms["nce"] = self.patch_nce(fake_b, [f[:n] for f in features], flipped=False)
        if self.use_nce_idt:  # the two NCE terms share lambda_nce
            terms["nce_idt"] = self.patch_nce(output[n:], [f[n:] for f in features], flipped=False)
        terms |= extra
        if self.use_identity:
            terms["idt"] = identity_loss(output[n:], real_b)
        nce_weight = 0.5 * c.lambda_nce if self.use_nce_idt else c.lambda_nce
        g = Objective("G", terms, {"G_gan": c.lambda_gan, "nce": nce_weight, "nce_idt": nce_weight,
                                   "idt": c.lambda_identity, **c.feature_weights()})
        updater.step(g.total, "G")
        return logged(d, g)

    def discriminator_step(self, real_b: Tensor, fake_b: Tensor, updater: Updater) -> Objective:
        """The GAN loss (weight 1/2) plus the R1 penalty on the real crops (weight lambda_r1 / 2)."""
        c = self.config
        real_b = real_b.detach().requires_grad_(c.lambda_r1 > 0)
        real_scores = self.D(real_b)
        terms = {"D": discriminator_loss(c.gan_mode, real_scores, self.D(fake_b))}
        if c.lambda_r1 > 0:
            terms["D_R1"] = r1_penalty(real_scores, real_b)
        d = Objective("D", terms, {"D": 0.5, "D_R1": 0.5 * c.lambda_r1})
        updater.step(d.total, "D")
        return d


register("sincut", SinCUTModel, SinCUTConfig,
         train={"epochs": 16, "decay_fraction": 0.5, "batch_size": 16, "lr": 2e-3, "beta1": 0.0, "beta2": 0.99},
         data={"preprocess": "zoom_and_patch", "size": 64},
         description="SinCUT: CUT on one image per domain (StyleGAN2-style nets, R1, random zooms and patches)")
