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

from pairless.fields import bounded
from pairless.losses.adversarial import GanMode, discriminator_loss, generator_loss
from pairless.losses.feature_matching import discogan_feature_matching
from pairless.losses.total import Objective, logged
from pairless.models.base import CycleTranslationModel, OptimizerGroup, Updater, frozen
from pairless.models.feature_losses import FeatureLossOptions, feature_losses
from pairless.models.options import NetworkOptions
from pairless.models.registry import register
from pairless.nn.encoder_decoder import ConvDiscriminator, EncoderDecoderGenerator, Norm
from pairless.nn.init import init_weights


@dataclass
class DiscoGANConfig(NetworkOptions, FeatureLossOptions):
    norm: Norm = "batch"
    gan_mode: GanMode = "vanilla"
    lambda_fm: float = bounded(0.9, at_least=0, at_most=1)
    """Share of DiscoGAN's feature-matching term in the adversarial part (the GAN loss gets the rest)."""
    gan_curriculum: int = bounded(10000, at_least=0)
    """Iterations trained with starting_rate before switching to default_rate."""
    starting_rate: float = bounded(0.01, at_least=0, at_most=1)
    """Weight of the reconstruction loss during the curriculum (the adversarial part gets 1 - rate)."""
    default_rate: float = bounded(0.5, at_least=0, at_most=1)
    """Weight of the reconstruction loss after the curriculum."""


class DiscoGANModel(CycleTranslationModel):
    size_multiple = 16
    iteration: Tensor

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

        d = Objective("D", {"D_A": discriminator_loss(c.gan_mode, self.D_A(real_a), self.D_A(fake_a.detach())),
                            "D_B": discriminator_loss(c.gan_mode, self.D_B(real_b), self.D_B(fake_b.detach()))},
                      {"D_A": 0.5, "D_B": 0.5})
        updater.step(d.total, "D")

        with frozen(self.D_A, self.D_B):
            terms = (self.adversarial(self.D_B, real_b, fake_b, "_AB")
                     | self.adversarial(self.D_A, real_a, fake_a, "_BA"))
            extra = (feature_losses(c, self.D_B, real_b, fake_b, "_B")
                     | feature_losses(c, self.D_A, real_a, fake_a, "_A"))
        terms["rec_A"] = F.mse_loss(self.G_BA(fake_b).float(), real_a.float())
        terms["rec_B"] = F.mse_loss(self.G_AB(fake_a).float(), real_b.float())
        g = Objective("G", terms | extra, self.generator_weights())
        updater.step(g.total, "G")
        self.set_host_scalar("iteration", self.host_scalar("iteration") + 1)
        return logged(d, g)

    def generator_weights(self) -> dict[str, float]:
        """The adversarial part (GAN and DiscoGAN's feature matching, split by lambda_fm) gets 1 - rate, the
        reconstructions the curriculum's rate."""
        c, rate = self.config, self.reconstruction_rate()
        return {**{f"G_gan{d}": (1 - rate) * (1 - c.lambda_fm) for d in ("_AB", "_BA")},
                **{f"fm_disco{d}": (1 - rate) * c.lambda_fm for d in ("_AB", "_BA")},
                "rec_A": rate, "rec_B": rate, **c.feature_weights("_B", "_A")}

    def adversarial(self, discriminator: ConvDiscriminator, real: Tensor, fake: Tensor,
                    direction: str) -> dict[str, Tensor]:
        """The GAN and the feature-matching term of one direction, raw."""
        c = self.config
        with torch.no_grad():
            real_features = discriminator.features(real)
        logits, fake_features = discriminator.forward_with_features(fake)
        return {f"G_gan{direction}": generator_loss(c.gan_mode, logits),
                f"fm_disco{direction}": discogan_feature_matching(real_features, fake_features)}


register("discogan", DiscoGANModel, DiscoGANConfig,
         train={"lr": 2e-4, "beta1": 0.5, "weight_decay": 1e-5, "epochs": 200, "decay_fraction": 0.0},
         description="DiscoGAN: encoder-decoder generators, GAN + feature matching + reconstruction both ways")
