"""CycleGAN (Zhu et al., ICCV 2017): two generators, two discriminators, cycle consistency both ways."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from pairless.fields import bounded
from pairless.losses.adversarial import GanMode, discriminator_loss, generator_loss
from pairless.losses.reconstruction import cycle_loss, identity_loss
from pairless.losses.total import Objective, logged
from pairless.models.base import (
    CycleTranslationModel,
    OptimizerGroup,
    Updater,
    frozen,
    resolved,
    same_channels_or_warn,
    scores_of_real_and_fake,
)
from pairless.models.feature_losses import FeatureLossOptions, feature_losses
from pairless.models.image_pool import ImagePool
from pairless.models.options import ResnetOptions
from pairless.models.registry import register
from pairless.nn.init import init_weights
from pairless.nn.patchgan import PatchDiscriminator
from pairless.nn.resnet_generator import ResnetGenerator


@dataclass
class CycleGANConfig(ResnetOptions, FeatureLossOptions):
    antialias_up: bool | None = None
    """Blurred 2x upsampling in G (CUT's code base can train CycleGAN so); None: as --antialias."""
    gan_mode: GanMode = "lsgan"
    lambda_cycle: float = 10.0
    lambda_idt: float = 0.5
    """Identity weight relative to lambda_cycle (0.5 x 10 = 5)."""
    pool_size: int = bounded(50, at_least=0)

    @property
    def history_pool(self) -> int:
        return self.pool_size

    def for_size(self, size: int) -> CycleGANConfig:
        cfg = super().for_size(size)
        return cfg if cfg.antialias_up is not None else replace(cfg, antialias_up=cfg.antialias)


class CycleGANModel(CycleTranslationModel):

    def __init__(self, config: CycleGANConfig, channels_a: int = 3, channels_b: int = 3):
        super().__init__(config, channels_a, channels_b)
        c = config
        aa, aa_up, n_blocks = c.antialias, resolved(c.antialias_up, "antialias_up"), resolved(c.n_blocks, "n_blocks")
        self.G_AB = ResnetGenerator(channels_a, channels_b, c.width, n_blocks, aa, aa_up)
        self.G_BA = ResnetGenerator(channels_b, channels_a, c.width, n_blocks, aa, aa_up)
        self.D_A = PatchDiscriminator(channels_a, c.width, c.d_layers, aa)
        self.D_B = PatchDiscriminator(channels_b, c.width, c.d_layers, aa)
        for net in (self.G_AB, self.G_BA, self.D_A, self.D_B):
            init_weights(net, c.init, c.init_gain)
        self.pool_A = ImagePool(c.pool_size)
        self.pool_B = ImagePool(c.pool_size)
        self.use_idt = c.lambda_idt > 0 and same_channels_or_warn(self, "the identity loss")

    def optimizer_groups(self) -> list[OptimizerGroup]:
        return [OptimizerGroup("G", ("G_AB", "G_BA")), OptimizerGroup("D", ("D_A", "D_B"))]

    def train_step(self, batch: dict[str, Tensor], updater: Updater) -> dict[str, Tensor]:
        c = self.config
        real_a, real_b = batch["A"], batch["B"]
        n = real_a.shape[0]
        # Batched passes (instance norm is per sample): G_AB over a (and b, for the identity term), then
        # G_BA over b (and a), with G_AB's translation to reconstruct; G_AB's reconstruction comes last.
        if self.use_idt:
            fake_b, idt_b = self.G_AB(torch.cat([real_a, real_b])).split(n)
            fake_a, idt_a, rec_a = self.G_BA(torch.cat([real_b, real_a, fake_b])).split(n)
        else:
            fake_b = self.G_AB(real_a)
            fake_a, rec_a = self.G_BA(torch.cat([real_b, fake_b])).split(n)
        rec_b = self.G_AB(fake_a)

        with frozen(self.D_A, self.D_B):
            terms = {"G_gan_AB": generator_loss(c.gan_mode, self.D_B(fake_b)),
                     "G_gan_BA": generator_loss(c.gan_mode, self.D_A(fake_a))}
            extra = (feature_losses(c, self.D_B, real_b, fake_b, "_B")
                     | feature_losses(c, self.D_A, real_a, fake_a, "_A"))
        terms["cycle"] = cycle_loss(rec_a, real_a) + cycle_loss(rec_b, real_b)
        terms |= extra
        if self.use_idt:
            terms["idt"] = identity_loss(idt_b, real_b) + identity_loss(idt_a, real_a)
        g = Objective("G", terms, {"cycle": c.lambda_cycle, "idt": c.lambda_cycle * c.lambda_idt,
                                   **c.feature_weights("_B", "_A")})
        updater.step(g.total, "G")

        d_b = discriminator_loss(c.gan_mode, *scores_of_real_and_fake(self.D_B, real_b, self.pool_B.query(fake_b)))
        d_a = discriminator_loss(c.gan_mode, *scores_of_real_and_fake(self.D_A, real_a, self.pool_A.query(fake_a)))
        d = Objective("D", {"D_A": d_a, "D_B": d_b}, {"D_A": 0.5, "D_B": 0.5})
        updater.step(d.total, "D")
        return logged(g, d)


register("cyclegan", CycleGANModel, CycleGANConfig, train={"epochs": 200, "decay_fraction": 0.5},
         description="CycleGAN: two generators with cycle-consistency and identity losses, image pools")
