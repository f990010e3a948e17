"""CUT and FastCUT: contrastive unpaired translation (Park et al., ECCV 2020).

One generator, one PatchGAN discriminator and a patch projection head. The generator is trained with
an adversarial loss plus PatchNCE between patches of its output and the same-place patches of its input
(and, for CUT, the same for target-domain images passed through it: the NCE identity term).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from pairless.losses.adversarial import GanMode, discriminator_loss, generator_loss
from pairless.losses.total import Objective, logged
from pairless.models.base import (
    OptimizerGroup,
    TranslationModel,
    Updater,
    frozen,
    resolved,
    same_channels_or_warn,
    scores_of_real_and_fake,
)
from pairless.models.contrastive import (
    REFERENCE_DATA,
    PatchNCEOptions,
    antialias_up_for,
    check_nce_layers,
    sampled_patch_nce,
)
from pairless.models.feature_losses import FeatureLossOptions, feature_losses
from pairless.models.options import ResnetOptions
from pairless.models.randomness import host_uniform
from pairless.models.registry import register
from pairless.nn.init import InitScheme, init_weights
from pairless.nn.patch_sampler import PatchSampleMLP
from pairless.nn.patchgan import PatchDiscriminator
from pairless.nn.resnet_generator import ResnetGenerator
from pairless.nn.stylegan2 import StyleGAN2Discriminator
from pairless.nn.taps import TappedGenerator


@dataclass
class CUTConfig(ResnetOptions, FeatureLossOptions, PatchNCEOptions):
    antialias: bool = True
    antialias_up: bool | None = None
    """Blurred 2x upsampling in G (the reference's default); None: on for crops of 128 px and more, transposed
    convolutions below, where the blur removes the finest textures the target domain has at that size."""
    gan_mode: GanMode = "lsgan"
    """Adversarial loss: lsgan, vanilla (= nonsaturating), hinge, hinge_saturating."""
    lambda_gan: float = 1.0
    """Weight of the adversarial term."""
    lambda_nce: float = 1.0
    """Weight of PatchNCE (and of the NCE identity term)."""
    nce_idt: bool = True
    """Also apply PatchNCE to target-domain images passed through G (CUT's identity term)."""
    flip_equivariance: bool = False
    """FastCUT: randomly flip the input and flip the output's features back before PatchNCE."""
    init: InitScheme = "xavier"

    def for_size(self, size: int) -> CUTConfig:
        cfg = super().for_size(size)
        return cfg if cfg.antialias_up is not None else replace(cfg, antialias_up=antialias_up_for(size))


class CUTModel(TranslationModel):
    G: TappedGenerator
    D: PatchDiscriminator | StyleGAN2Discriminator
    """SinCUT's networks are StyleGAN2's; CUT's step and sampling take the same calls on them."""

    def __init__(self, config: CUTConfig, channels_a: int = 3, channels_b: int = 3):
        super().__init__(config, channels_a, channels_b)
        c = config
        n_blocks, antialias_up = resolved(c.n_blocks, "n_blocks"), resolved(c.antialias_up, "antialias_up")
        self.G = ResnetGenerator(channels_a, channels_b, c.width, n_blocks, c.antialias, antialias_up)
        check_nce_layers(self.G, c.nce_layers, n_blocks)
        self.D = PatchDiscriminator(channels_b, c.width, c.d_layers, antialias=c.antialias)
        self.F = PatchSampleMLP(self.G.feature_channels(c.nce_layers), c.head_dim)
        for net in (self.G, self.D, self.F):
            init_weights(net, c.init, c.init_gain)
        self.use_nce_idt = c.nce_idt and same_channels_or_warn(self, "the NCE identity term (nce_idt)")

    def optimizer_groups(self) -> list[OptimizerGroup]:
        return [OptimizerGroup("G", ("G", "F")), OptimizerGroup("D", ("D",))]

    def train_step(self, batch: dict[str, Tensor], updater: Updater) -> dict[str, Tensor]:
        c = self.config
        real_a, real_b = batch["A"], batch["B"]
        n = real_a.shape[0]
        flipped = c.flip_equivariance and host_uniform() < 0.5
        source = real_a.flip(3) if flipped else real_a
        inputs = torch.cat([source, real_b]) if self.use_nce_idt else source
        output, features = self.G(inputs, c.nce_layers)
        fake_b = output[:n] if self.use_nce_idt else output  # a full-range slice still costs a copy in backward

        d_scores = scores_of_real_and_fake(self.D, real_b, fake_b.detach())
        d = Objective("D", {"D": discriminator_loss(c.gan_mode, *d_scores)}, {"D": 0.5})
        updater.step(d.total, "D")

        with frozen(self.D):
            terms = {"G_gan": generator_loss(c.gan_mode, self.D(fake_b))}
            extra = feature_losses(c, self.D, real_b, fake_b)
        terms["nce"], nce_idt = self.nce_losses(real_a, output, features, flipped)
        if nce_idt is not None:  # the two NCE terms share lambda_nce
            terms["nce_idt"] = nce_idt
        nce_weight = 0.5 * c.lambda_nce if self.use_nce_idt else c.lambda_nce
        g = Objective("G", terms | extra, {"G_gan": c.lambda_gan, "nce": nce_weight, "nce_idt": nce_weight,
                                           **c.feature_weights()})
        updater.step(g.total, "G")
        return logged(d, g)

    def nce_losses(self, real_a: Tensor, output: Tensor, features: list[Tensor],
                   flipped: bool) -> tuple[Tensor, Tensor | None]:
        """PatchNCE of the translation and (with the identity term, else None) of the identity image. Both
        score in one batched pass over the generation pass's batch unless the input was flipped; after a
        flip the keys come from a pass over the unflipped input, without a graph (keys get no gradient)."""
        n = real_a.shape[0]
        if self.use_nce_idt and not flipped:
            loss_nce, loss_nce_idt = self.patch_nce(output, features, flipped, parts=2).unbind()
            return loss_nce, loss_nce_idt
        if flipped:
            with torch.no_grad():
                keys = self.G(real_a, self.config.nce_layers, encode_only=True)
        else:
            keys = [f[:n] for f in features]
        loss_nce = self.patch_nce(output[:n] if self.use_nce_idt else output, keys, flipped)
        if not self.use_nce_idt:
            return loss_nce, None
        return loss_nce, self.patch_nce(output[n:], [f[n:] for f in features], flipped=False)

    def patch_nce(self, generated: Tensor, source_features: list[Tensor], flipped: bool, parts: int = 1) -> Tensor:
        """PatchNCE between the generator's encoding of `generated` (queries) and of its source (keys);
        with `parts`, the loss of each equal part of the batch (see `sampled_patch_nce`)."""
        c = self.config
        query_features = self.G(generated, c.nce_layers, encode_only=True)
        if flipped:
            query_features = [f.flip(3) for f in query_features]
        return sampled_patch_nce(query_features, source_features, self.F, self.F, c, parts=parts).loss

    def translate(self, images: Tensor, direction: str = "AtoB") -> Tensor:
        self.check_direction(direction)
        return self.G(images)

    def visuals(self, batch: dict[str, Tensor]) -> list[dict[str, Tensor]]:
        row = {"real_A": batch["A"], "fake_B": self.G(batch["A"])}
        if self.use_nce_idt:
            row |= {"real_B": batch["B"], "idt_B": self.G(batch["B"])}
        return [row]


register("cut", CUTModel, CUTConfig, train={"epochs": 400, "decay_fraction": 0.5}, data=REFERENCE_DATA,
         description="CUT: one-sided contrastive translation with PatchNCE and the NCE identity term")
register("fastcut", CUTModel,
         lambda: CUTConfig(lambda_nce=10.0, nce_idt=False, flip_equivariance=True),
         train={"epochs": 200, "decay_fraction": 0.25}, data=REFERENCE_DATA,
         description="FastCUT: CUT without the identity term, λ_NCE 10 and flip equivariance")
