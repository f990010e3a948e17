"""DualGAN (Yi et al., ICCV 2017): two U-Net translators closing a loop, trained as Wasserstein GANs.

G_AB and G_BA are pix2pix U-Nets; D_A and D_B are PatchGAN critics. Each iteration first takes
`n_critic` critic steps (on the iteration's batch) with RMSProp, clipping the critics' weights to
[-clip, clip] after every step (or, with `gradient_penalty` > 0, the WGAN-GP penalty instead), then one
generator step: -C(fake) both ways plus the L1 reconstruction errors weighted lambda_a and lambda_b.

Paper settings: RMSProp lr 5e-5, clip c in [0.01, 0.1], n_critic 2-4, lambda_U = lambda_V in
[100, 1000]; the defaults take the low ends. (The authors' released code instead trains a
cross-entropy GAN with lambda 20, which is not what the paper describes.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from torch import Tensor

from pairless.errors import PairlessError
from pairless.fields import bounded
from pairless.losses.reconstruction import cycle_loss
from pairless.losses.total import Objective, logged
from pairless.losses.wasserstein import clip_weights, critic_loss, gradient_penalty, wasserstein_generator_loss
from pairless.models.base import CycleTranslationModel, OptimizerGroup, Updater, frozen, resolved
from pairless.models.feature_losses import FeatureLossOptions, feature_losses
from pairless.models.options import NetworkOptions
from pairless.models.registry import register
from pairless.nn.init import init_weights
from pairless.nn.patchgan import PatchDiscriminator
from pairless.nn.unet import UnetGenerator

MAX_DEPTH = 8
"""pix2pix's U-Net for 256 px crops."""


@dataclass
class DualGANConfig(NetworkOptions, FeatureLossOptions):
    depth: int | None = bounded(None, at_least=1)
    """U-Net levels: images must be multiples of 2**depth px. None: as deep as the crop allows, down to
    1 px and at most pix2pix's 8 (5 at 32 px, 6 at 64, 7 at 128, 8 at 256)."""
    dropout: bool = True
    """Dropout 0.5 in the three innermost decoder levels while training (pix2pix / DualGAN)."""
    d_layers: int = bounded(3, at_least=1)
    lambda_a: float = bounded(100.0, at_least=0)
    """Weight of the L1 reconstruction error of domain-A images, A -> B -> A (the paper's lambda_U)."""
    lambda_b: float = bounded(100.0, at_least=0)
    """Weight of the L1 reconstruction error of domain-B images, B -> A -> B (lambda_V)."""
    n_critic: int = bounded(2, at_least=1)
    """Critic steps per generator step."""
    clip: float = bounded(0.01, at_least=0)
    """Critic weights are clamped to [-clip, clip] after each critic step (0 = no clipping)."""
    gradient_penalty: float = bounded(0.0, at_least=0)
    """WGAN-GP weight; when positive it replaces weight clipping (10 in Gulrajani et al.)."""
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    def for_size(self, size: int) -> DualGANConfig:
        if self.depth is not None:
            return self
        depth = 0
        while depth < MAX_DEPTH and size % 2 ** (depth + 1) == 0:
            depth += 1
        return replace(self, depth=max(1, depth))

    def discriminator_schedule(self) -> str:
        return f"{self.n_critic} critic step(s) per generator step on the iteration's batch"


class DualGANModel(CycleTranslationModel):

    def __init__(self, config: DualGANConfig, channels_a: int = 3, channels_b: int = 3):
        super().__init__(config, channels_a, channels_b)
        c = config
        depth = resolved(c.depth, "depth")
        self.size_multiple = 2 ** depth
        self.G_AB = UnetGenerator(channels_a, channels_b, c.width, depth, c.dropout)
        self.G_BA = UnetGenerator(channels_b, channels_a, c.width, depth, c.dropout)
        self.D_A = without_output_bias(PatchDiscriminator(channels_a, c.width, c.d_layers))
        self.D_B = without_output_bias(PatchDiscriminator(channels_b, c.width, c.d_layers))
        for net in (self.G_AB, self.G_BA, self.D_A, self.D_B):
            init_weights(net, c.init, c.init_gain)
        self.clip_critics = c.clip > 0 and c.gradient_penalty == 0

    def optimizer_groups(self) -> list[OptimizerGroup]:
        kind = self.config.optimizer
        return [OptimizerGroup("G", ("G_AB", "G_BA"), kind=kind), OptimizerGroup("D", ("D_A", "D_B"), kind=kind)]

    def discriminator_losses(self) -> tuple[str, ...]:
        """None: a Wasserstein critic's loss has no floor at 0 (see TranslationModel.discriminator_losses)."""
        return ()

    def after_optimizer_step(self, group: str) -> None:
        if group == "D" and self.clip_critics:
            clip_weights(self.D_A, self.config.clip)
            clip_weights(self.D_B, self.config.clip)

    def train_step(self, batch: dict[str, Tensor], updater: Updater) -> dict[str, Tensor]:
        c = self.config
        real_a, real_b = batch["A"], batch["B"]
        self.check_size(real_a)
        fake_b, fake_a = self.G_AB(real_a), self.G_BA(real_b)

        for _ in range(c.n_critic):  # the last critic step's losses are logged
            d = self.critic_objective(real_a, real_b, fake_a.detach(), fake_b.detach())
            updater.step(d.total, "D")

        with frozen(self.D_A, self.D_B):
            terms = {"G_gan_AB": wasserstein_generator_loss(self.D_B(fake_b)),
                     "G_gan_BA": wasserstein_generator_loss(self.D_A(fake_a))}
            extra = (feature_losses(c, self.D_B, real_b, fake_b, "_B")
                     | feature_losses(c, self.D_A, real_a, fake_a, "_A"))
        terms["rec_A"] = cycle_loss(self.G_BA(fake_b), real_a)
        terms["rec_B"] = cycle_loss(self.G_AB(fake_a), real_b)
        g = Objective("G", terms | extra, {"rec_A": c.lambda_a, "rec_B": c.lambda_b,
                                           **c.feature_weights("_B", "_A")})
        updater.step(g.total, "G")
        return logged(d, g)

    def critic_objective(self, real_a: Tensor, real_b: Tensor, fake_a: Tensor, fake_b: Tensor) -> Objective:
        c = self.config
        terms = {"D_A": critic_loss(self.D_A(real_a), self.D_A(fake_a)),
                 "D_B": critic_loss(self.D_B(real_b), self.D_B(fake_b))}
        if c.gradient_penalty > 0:
            terms["gp"] = gradient_penalty(self.D_A, real_a, fake_a) + gradient_penalty(self.D_B, real_b, fake_b)
        return Objective("D", terms, {"gp": c.gradient_penalty})

    def check_size(self, images: Tensor) -> None:
        if any(side % self.size_multiple for side in images.shape[-2:]):
            raise PairlessError(f"--size {images.shape[-1]} does not suit the U-Net's --depth {self.config.depth}: "
                                f"crops must be multiples of {self.size_multiple} px (lower --depth or raise --size)")


def without_output_bias(critic: PatchDiscriminator) -> PatchDiscriminator:
    """A constant added to a Wasserstein critic cancels in every loss (the bias never gets gradient): drop it."""
    critic.layers[-1].register_parameter("bias", None)
    return critic


register("dualgan", DualGANModel, DualGANConfig, train={"lr": 5e-5, "epochs": 50, "decay_fraction": 0.0},
         description="DualGAN: two U-Nets in a loop, Wasserstein critics with weight clipping, RMSProp")
