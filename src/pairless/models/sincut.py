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
from pairless.losses.adversarial import GanMode, discriminator_loss, generator_loss
from pairless.losses.patchnce import Negatives
from pairless.losses.r1 import r1_penalty
from pairless.losses.reconstruction import identity_loss
from pairless.models.base import TranslationModel, Updater, frozen, same_channels_or_warn
from pairless.models.contrastive import PatchNCEOptions, check_nce_layers
from pairless.models.cut import CUTModel
from pairless.models.feature_losses import FeatureLossOptions, feature_losses
from pairless.models.registry import register
from pairless.nn.init import init_weights
from pairless.nn.patch_sampler import PatchSampleMLP
from pairless.nn.stylegan2 import D_FINAL_SIZE, StyleGAN2Discriminator, StyleGAN2Generator


@dataclass
class SinCUTConfig(FeatureLossOptions, PatchNCEOptions):
    nce_layers: tuple[int, ...] = (0, 2, 4)
    num_patches: int = 1
    """Patches per NCE layer and crop; the other crops of the minibatch supply the negatives."""
    nce_negatives: Negatives = "batch"
    width: int = 10
    """Generator width (the reference's ngf): 8 * width channels at full resolution, doubling per level."""
    d_width: int = 8
    """Discriminator width (the reference's ndf): 4 * d_width channels at the input, doubling per block."""
    n_downsampling: int = 1
    """Downsampling levels of the generator."""
    n_blocks: int = 6
    """Residual blocks at the generator's lowest resolution, half in the encoder and half in the decoder."""
    d_blocks: int | None = None
    """Downsampling blocks of the discriminator: it needs log2(--size) - 2 (4 for 64 px crops, 5 for 128 px),
    which None (the default) chooses."""
    gan_mode: GanMode = "nonsaturating"
    lambda_gan: float = 1.0
    lambda_nce: float = 4.0
    nce_idt: bool = True
    """Also apply PatchNCE to target-domain crops passed through G (CUT's identity term)."""
    lambda_identity: float = 1.0
    """Weight of the L1 identity-preservation loss ||G(y) - y||."""
    lambda_r1: float = 1.0
    """Weight of the R1 gradient penalty on real target crops (added as 0.5 * weight * ||grad D||^2)."""

    def __post_init__(self):
        super().__post_init__()
        if min(self.width, self.d_width, 1 if self.d_blocks is None else self.d_blocks) < 1:
            raise PairlessError("--width, --d-width and --d-blocks must be at least 1")
        if self.n_downsampling < 0 or self.n_blocks < 2 or self.n_blocks % 2:
            raise PairlessError(f"--n-blocks must be even and at least 2 (got {self.n_blocks}), "
                                f"--n-downsampling at least 0 (got {self.n_downsampling})")
        if min(self.lambda_gan, self.lambda_nce, self.lambda_identity, self.lambda_r1) < 0:
            raise PairlessError("the loss weights (--lambda-gan, --lambda-nce, --lambda-identity, --lambda-r1) "
                                "must be 0 or more")

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
        self.D = StyleGAN2Discriminator(channels_b, c.d_width, c.d_blocks)
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
        losses = self.discriminator_step(real_b, fake_b.detach(), updater)

        with frozen(self.D):
            losses["G_gan"] = c.lambda_gan * generator_loss(c.gan_mode, self.D(fake_b))
            extra = feature_losses(c, self.D, real_b, fake_b)
        losses["nce"], loss_nce_idt = self.nce_losses(real_a, output, features, flipped=False)
        loss_nce_total = losses["nce"]
        if loss_nce_idt is not None:
            losses["nce_idt"] = loss_nce_idt
            loss_nce_total = 0.5 * (losses["nce"] + loss_nce_idt)
        loss_g = losses["G_gan"] + c.lambda_nce * loss_nce_total + sum(extra.values())
        losses |= extra
        if self.use_identity:
            losses["idt"] = c.lambda_identity * identity_loss(output[n:], real_b)
            loss_g = loss_g + losses["idt"]
        updater.step(loss_g, "G")
        losses["G"] = loss_g
        return losses

    def discriminator_step(self, real_b: Tensor, fake_b: Tensor, updater: Updater) -> dict[str, Tensor]:
        """Halved GAN loss plus the R1 penalty on the real crops; returns {"D": total, "D_R1": penalty}."""
        c = self.config
        real_b = real_b.detach().requires_grad_(c.lambda_r1 > 0)
        real_scores = self.D(real_b)
        loss_d = 0.5 * discriminator_loss(c.gan_mode, real_scores, self.D(fake_b))
        losses = {}
        if c.lambda_r1 > 0:
            losses["D_R1"] = 0.5 * c.lambda_r1 * r1_penalty(real_scores, real_b)
            loss_d = loss_d + losses["D_R1"]
        updater.step(loss_d, "D")
        losses["D"] = loss_d
        return losses


register("sincut", SinCUTModel, SinCUTConfig,
         train={"epochs": 16, "decay_fraction": 0.5, "batch_size": 16, "lr": 2e-3, "beta1": 0.0, "beta2": 0.99},
         data={"preprocess": "zoom_and_patch", "size": 64},
         description="SinCUT: CUT on one image per domain (StyleGAN2-style nets, R1, random zooms and patches)")
