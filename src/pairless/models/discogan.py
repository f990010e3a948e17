"""DiscoGAN (Kim et al., ICML 2017): two encoder-decoder generators and two conv discriminators, each
generator trained by a GAN loss, DiscoGAN's feature-matching term and reconstruction both ways.

As in the authors' code, for each direction the generator loss is
    (1 - rate) * ((1 - lambda_fm) * GAN + lambda_fm * FM) + rate * MSE reconstruction,
with `rate` = starting_rate for the first `gan_curriculum` iterations (a GAN-heavy start) and
default_rate afterwards. D and G are each updated every iteration here; the code alternates one D update
with two G updates. The reference trains at batch 64 (`--batch-size 64`) with Adam 2e-4, beta1 0.5 and
weight decay 1e-5; with batch norm, batch size 1 normalises each image on its own while training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from pairless.errors import PairlessError
from pairless.losses.adversarial import GanMode, discriminator_loss, generator_loss
from pairless.losses.feature_matching import discogan_feature_matching
from pairless.models.base import OptimizerGroup, CycleTranslationModel, Updater, frozen
from pairless.models.feature_losses import FeatureLossOptions, feature_losses
from pairless.models.registry import register
from pairless.nn.encoder_decoder import ConvDiscriminator, EncoderDecoderGenerator, Norm
from pairless.nn.init import InitScheme, init_weights


@dataclass
class DiscoGANConfig(FeatureLossOptions):
    width: int = 64
    norm: Norm = "batch"
    gan_mode: GanMode = "vanilla"
    lambda_fm: float = 0.9
    """Share of DiscoGAN's feature-matching term in the adversarial part (the GAN loss gets the rest)."""
    gan_curriculum: int = 10000
    """Iterations trained with starting_rate before switching to default_rate."""
    starting_rate: float = 0.01
    """Weight of the reconstruction loss during the curriculum (the adversarial part gets 1 - rate)."""
    default_rate: float = 0.5
    """Weight of the reconstruction loss after the curriculum."""
    init: InitScheme = "normal"
    init_gain: float = 0.02

    def __post_init__(self):
        super().__post_init__()
        if self.width < 1 or self.gan_curriculum < 0:
            raise PairlessError("--width must be at least 1 and --gan-curriculum 0 or more")
        for name in ("lambda_fm", "starting_rate", "default_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise PairlessError(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(self, name)}")


class DiscoGANModel(CycleTranslationModel):
    size_multiple = 16

    def __init__(self, config: DiscoGANConfig, channels_a: int = 3, channels_b: int = 3):
        super().__init__(config, channels_a, channels_b)
        c = config
        widths = [c.width, 2 * c.width, 4 * c.width, 8 * c.width]
        self.G_AB = EncoderDecoderGenerator(channels_a, channels_b, c.width, c.norm)
        self.G_BA = EncoderDecoderGenerator(channels_b, channels_a, c.width, c.norm)
        self.D_A = ConvDiscriminator(channels_a, widths, norm=c.norm)
        self.D_B = ConvDiscriminator(channels_b, widths, norm=c.norm)
        for net in (self.G_AB, self.G_BA, self.D_A, self.D_B):
            init_weights(net, c.init, c.init_gain)
        self.register_host_scalar("iteration")

    def optimizer_groups(self) -> list[OptimizerGroup]:
        return [OptimizerGroup("G", ("G_AB", "G_BA")), OptimizerGroup("D", ("D_A", "D_B"))]

    def reconstruction_rate(self) -> float:
        c = self.config
        return c.starting_rate if self.host_scalar("iteration") < c.gan_curriculum else c.default_rate

    def train_step(self, batch: dict[str, Tensor], updater: Updater) -> dict[str, Tensor]:
        c = self.config
        real_a, real_b = batch["A"], batch["B"]
        fake_b, fake_a = self.G_AB(real_a), self.G_BA(real_b)

        loss_d_a = 0.5 * discriminator_loss(c.gan_mode, self.D_A(real_a), self.D_A(fake_a.detach()))
        loss_d_b = 0.5 * discriminator_loss(c.gan_mode, self.D_B(real_b), self.D_B(fake_b.detach()))
        updater.step(loss_d_a + loss_d_b, "D")

        rate = self.reconstruction_rate()
        with frozen(self.D_A, self.D_B):
            adv_ab, terms_ab = self.adversarial(self.D_B, real_b, fake_b)
            adv_ba, terms_ba = self.adversarial(self.D_A, real_a, fake_a)
            extra = (feature_losses(c, self.D_B, real_b, fake_b, "_B")
                     | feature_losses(c, self.D_A, real_a, fake_a, "_A"))
        loss_rec_a = F.mse_loss(self.G_BA(fake_b).float(), real_a.float())
        loss_rec_b = F.mse_loss(self.G_AB(fake_a).float(), real_b.float())
        loss_g = (1 - rate) * (adv_ab + adv_ba) + rate * (loss_rec_a + loss_rec_b) + sum(extra.values())
        updater.step(loss_g, "G")
        self.set_host_scalar("iteration", self.host_scalar("iteration") + 1)
        return ({f"{k}_AB": v for k, v in terms_ab.items()} | {f"{k}_BA": v for k, v in terms_ba.items()} | extra
                | {"rec_A": loss_rec_a, "rec_B": loss_rec_b, "G": loss_g, "D_A": loss_d_a, "D_B": loss_d_b})

    def adversarial(self, discriminator: ConvDiscriminator, real: Tensor, fake: Tensor) -> tuple[Tensor, dict]:
        """(1 - lambda_fm) * GAN + lambda_fm * FM for one direction, and the two terms."""
        c = self.config
        with torch.no_grad():
            real_features = discriminator.features(real)
        logits, fake_features = discriminator.forward_with_features(fake)
        gan = generator_loss(c.gan_mode, logits)
        fm = discogan_feature_matching(real_features, fake_features)
        return (1 - c.lambda_fm) * gan + c.lambda_fm * fm, {"G_gan": gan, "fm_disco": fm}


register("discogan", DiscoGANModel, DiscoGANConfig,
         train={"lr": 2e-4, "beta1": 0.5, "weight_decay": 1e-5, "epochs": 200, "decay_fraction": 0.0},
         description="DiscoGAN: encoder-decoder generators, GAN + feature matching + reconstruction both ways")
