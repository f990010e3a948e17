"""DCLGAN and SimDCL: dual contrastive learning for unpaired translation (Han et al., CVPRW 2021).

Two generators and two discriminators, as CycleGAN, but no cycle loss: each direction is tied to its
input by PatchNCE, with *dual* embeddings. Patches of domain-A images (real A, and fake A = G_BA(b)) are
encoded by G_AB's encoder and projected by head F_A; patches of domain-B images by G_BA's encoder and
F_B. So the A->B term compares real A (keys, F_A) with fake B (queries, F_B), and B->A the reverse.
SimDCL adds a similarity loss that pulls together the embeddings of real and generated images of the
same domain, which the paper reports as resisting mode collapse.

Defaults follow the reference code, which produced the published numbers: no image pool, learning rate
2e-4 for G and D, 200 + 200 epochs for both methods, and SimDCL's objective
½(GAN_A + GAN_B) + ½(NCE_AB + NCE_BA) + ½(idt_A + idt_B) + 10·sim (λ_NCE is not applied, so
`--lambda-nce 1`, and the similarity term stays outside the halving). The papers' text differs; its
values are the preset `--preset paper-text`: DCLGAN with image pools of 50 and lr 1e-4; SimDCL with pools
of 50, λ_NCE 2, λ_sim 10 in an objective that is not halved (λ_sim 5 here, beside the halved terms) and
200 epochs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from pairless.errors import PairlessError
from pairless.fields import bounded
from pairless.losses.adversarial import GanMode, discriminator_loss, generator_loss
from pairless.losses.reconstruction import identity_loss
from pairless.losses.similarity import similarity_loss
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
from pairless.models.contrastive import (
    REFERENCE_DATA,
    PatchNCEOptions,
    antialias_up_for,
    check_nce_layers,
    sampled_patch_nce,
)
from pairless.models.feature_losses import FeatureLossOptions, feature_losses
from pairless.models.image_pool import ImagePool
from pairless.models.options import ResnetOptions
from pairless.models.registry import Preset, register
from pairless.nn.init import InitScheme, init_weights
from pairless.nn.patch_sampler import PatchSampleMLP, per_layer
from pairless.nn.patchgan import PatchDiscriminator
from pairless.nn.resnet_generator import ResnetGenerator
from pairless.nn.similarity import SimilarityProjector, stack_patch_samples


@dataclass
class DCLConfig(ResnetOptions, FeatureLossOptions, PatchNCEOptions):
    nce_layers: tuple[int, ...] = (4, 8, 12, 16)
    antialias: bool = True
    antialias_up: bool | None = None
    """Blurred 2x upsampling in G (the reference's default); None: on for crops of 128 px and more, transposed
    convolutions below, where the blur removes the finest textures the target domain has at that size."""
    gan_mode: GanMode = "hinge_saturating"
    lambda_gan: float = 1.0
    lambda_nce: float = 2.0
    lambda_idt: float = 1.0
    lambda_sim: float = 0.0
    """SimDCL's similarity loss weight (0 = DCLGAN); the term is added outside the halved objective."""
    sim_dim: int = bounded(64, at_least=1)
    sim_resample: bool = True
    """Embed generated images for the similarity loss from patches drawn anew, as the reference code does;
    off reuses the patches PatchNCE sampled from them (drawn for the other image, so just as independent of
    the real image they are compared with): the same expected gradient for two fewer projection passes."""
    pool_size: int = bounded(0, at_least=0)
    """Generated images kept for the discriminator update; 0 (the reference code) uses the current ones."""
    head_lr: float | None = 1e-3
    """Learning rate of the patch heads; None uses the run's --lr and betas."""
    head_beta1: float = bounded(0.9, at_least=0, below=1)
    init: InitScheme = "xavier"

    def cross_check(self) -> None:
        """SimDCL's heads read [patches, feature dims] through an unpadded 3x3 convolution."""
        smallest = SimilarityProjector.SMALLEST_SIDE
        for option, value in (("--num-patches", self.num_patches), ("--head-dim", self.head_dim)):
            if self.lambda_sim > 0 and value < smallest:
                raise PairlessError(f"{option} {value} is too small for SimDCL: its similarity heads read the "
                                    f"sampled patches with a 3x3 convolution, which needs at least {smallest}")

    def for_size(self, size: int) -> DCLConfig:
        cfg = super().for_size(size)
        return cfg if cfg.antialias_up is not None else replace(cfg, antialias_up=antialias_up_for(size))

    @property
    def history_pool(self) -> int:
        return self.pool_size


class DCLModel(CycleTranslationModel):

    def __init__(self, config: DCLConfig, channels_a: int = 3, channels_b: int = 3):
        super().__init__(config, channels_a, channels_b)
        c = config
        n_blocks, antialias_up = resolved(c.n_blocks, "n_blocks"), resolved(c.antialias_up, "antialias_up")
        self.G_AB = ResnetGenerator(channels_a, channels_b, c.width, n_blocks, c.antialias, antialias_up)
        self.G_BA = ResnetGenerator(channels_b, channels_a, c.width, n_blocks, c.antialias, antialias_up)
        check_nce_layers(self.G_AB, c.nce_layers, n_blocks)
        self.D_A = PatchDiscriminator(channels_a, c.width, c.d_layers, c.antialias)
        self.D_B = PatchDiscriminator(channels_b, c.width, c.d_layers, c.antialias)
        self.F_A = PatchSampleMLP(self.G_AB.feature_channels(c.nce_layers), c.head_dim)
        self.F_B = PatchSampleMLP(self.G_BA.feature_channels(c.nce_layers), c.head_dim)
        self.heads = ["F_A", "F_B"]
        if c.lambda_sim > 0:
            for name in ("H_real_A", "H_fake_A", "H_real_B", "H_fake_B"):
                setattr(self, name, SimilarityProjector(len(c.nce_layers), c.sim_dim))
            self.heads += ["H_real_A", "H_fake_A", "H_real_B", "H_fake_B"]
        for name in ("G_AB", "G_BA", "D_A", "D_B", *self.heads):
            init_weights(getattr(self, name), c.init, c.init_gain)
        self.pool_A = ImagePool(c.pool_size)
        self.pool_B = ImagePool(c.pool_size)
        self.use_idt = c.lambda_idt > 0 and same_channels_or_warn(self, "the identity loss")
        self.warned_patch_count = False

    def optimizer_groups(self) -> list[OptimizerGroup]:
        c = self.config
        heads = (OptimizerGroup("F", tuple(self.heads), lr=c.head_lr, betas=(c.head_beta1, 0.999))
                 if c.head_lr is not None else OptimizerGroup("F", tuple(self.heads)))
        return [OptimizerGroup("G", ("G_AB", "G_BA")), heads, OptimizerGroup("D", ("D_A", "D_B"))]

    def train_step(self, batch: dict[str, Tensor], updater: Updater) -> dict[str, Tensor]:
        c = self.config
        real_a, real_b = batch["A"], batch["B"]
        n = real_a.shape[0]
        # One pass per generator over real images of both domains (instance norm is per sample): the
        # translation, the identity image, and the encoder features of the real input (the NCE keys).
        out_ab, feats_ab = self.G_AB(torch.cat([real_a, real_b]) if self.use_idt else real_a, c.nce_layers)
        out_ba, feats_ba = self.G_BA(torch.cat([real_b, real_a]) if self.use_idt else real_b, c.nce_layers)
        fake_b, idt_b = out_ab[:n], out_ab[n:]
        fake_a, idt_a = out_ba[:n], out_ba[n:]

        scores_a = scores_of_real_and_fake(self.D_A, real_a, self.pool_A.query(fake_a))
        scores_b = scores_of_real_and_fake(self.D_B, real_b, self.pool_B.query(fake_b))
        d = Objective("D", {"D_A": discriminator_loss(c.gan_mode, *scores_a),
                            "D_B": discriminator_loss(c.gan_mode, *scores_b)},
                      {"D_A": 0.5 * c.lambda_gan, "D_B": 0.5 * c.lambda_gan})
        updater.step(d.total, "D")

        with frozen(self.D_A, self.D_B):
            loss_gan = generator_loss(c.gan_mode, self.D_B(fake_b)) + generator_loss(c.gan_mode, self.D_A(fake_a))
            extra = (feature_losses(c, self.D_B, real_b, fake_b, "_B")
                     | feature_losses(c, self.D_A, real_a, fake_a, "_A"))
        need_key_grad, patches = c.lambda_sim > 0, self.patch_count(feats_ab)
        fake_b_features = self.G_BA(fake_b, c.nce_layers, encode_only=True)
        fake_a_features = self.G_AB(fake_a, c.nce_layers, encode_only=True)
        nce_ab = sampled_patch_nce(fake_b_features, [f[:n] for f in feats_ab], self.F_B, self.F_A, c, need_key_grad,
                                   patches)
        nce_ba = sampled_patch_nce(fake_a_features, [f[:n] for f in feats_ba], self.F_A, self.F_B, c, need_key_grad,
                                   patches)
        terms = {"G_gan": loss_gan, "nce_AB": nce_ab.loss, "nce_BA": nce_ba.loss}
        if self.use_idt:
            terms["idt"] = identity_loss(idt_b, real_b) + identity_loss(idt_a, real_a)
        terms |= extra
        if c.lambda_sim > 0:
            fake_b_samples, fake_a_samples = nce_ab.queries, nce_ba.queries
            if c.sim_resample:  # `project`, as PatchNCE calls it: eager also under --cuda-graphs
                fake_b_samples = per_layer(self.F_B.project(fake_b_features, patches)[0])
                fake_a_samples = per_layer(self.F_A.project(fake_a_features, patches)[0])
            terms["sim"] = self.similarity(nce_ab.keys, fake_a_samples, nce_ba.keys, fake_b_samples, n)
        # The objective of the reference code is halved, except for the feature and similarity terms.
        g = Objective("G", terms, {"G_gan": 0.5 * c.lambda_gan, "nce_AB": 0.5 * c.lambda_nce,
                                   "nce_BA": 0.5 * c.lambda_nce, "idt": 0.5 * c.lambda_idt, "sim": c.lambda_sim,
                                   **c.feature_weights("_B", "_A")})
        updater.step(g.total, "G", "F")
        return logged(d, g)

    def patch_count(self, features: list[Tensor]) -> int:
        """--num-patches; SimDCL stacks the samples of all layers, so it takes at most as many as the
        smallest layer has (with a one-time warning), e.g. 64 of a 32 px crop's 8x8 layers."""
        wanted = self.config.num_patches
        available = min(f.shape[-2] * f.shape[-1] for f in features)
        if self.config.lambda_sim == 0 or available >= wanted:
            return wanted
        if not self.warned_patch_count:
            warnings.warn(f"--num-patches {wanted}: the smallest NCE layer has {available} positions at this "
                          f"crop size, so SimDCL samples {available} per layer", stacklevel=2)
            self.warned_patch_count = True
        return available

    def similarity(self, real_a: list[Tensor], fake_a: list[Tensor], real_b: list[Tensor], fake_b: list[Tensor],
                   batch_size: int) -> Tensor:
        """L1 between same-domain embeddings of projected patch samples (per layer, [B * P, dim]): real A
        (the keys of A->B) vs fake A, real B (the keys of B->A) vs fake B; every layer holds P samples."""
        def embed(net, samples):
            return net(stack_patch_samples(samples, batch_size))

        return (similarity_loss(embed(self.H_real_A, real_a), embed(self.H_fake_A, fake_a))
                + similarity_loss(embed(self.H_real_B, real_b), embed(self.H_fake_B, fake_b)))

    def visuals(self, batch: dict[str, Tensor]) -> list[dict[str, Tensor]]:
        return [{"real_A": batch["A"], "fake_B": self.G_AB(batch["A"]), "idt_A": self.G_BA(batch["A"])},
                {"real_B": batch["B"], "fake_A": self.G_BA(batch["B"]), "idt_B": self.G_AB(batch["B"])}]


DCLGAN_PAPER_TEXT = Preset("the paper's text: image pools of 50, lr 1e-4 (400 epochs as the code)",
                           {"model.pool_size": 50, "train.lr": 1e-4})
SIMDCL_PAPER_TEXT = Preset("the paper's text: image pools of 50, λ_NCE 2, λ_sim 10 in an unhalved objective "
                           "(5 beside the halved terms), 200 epochs",
                           {"model.pool_size": 50, "model.lambda_nce": 2.0, "model.lambda_sim": 5.0,
                            "train.epochs": 200})

register("dclgan", DCLModel, DCLConfig, train={"epochs": 400, "decay_fraction": 0.5, "lr": 2e-4},
         data=REFERENCE_DATA, presets={"paper-text": DCLGAN_PAPER_TEXT},
         description="DCLGAN: two generators tied to their inputs by dual PatchNCE (separate heads), no cycle")
register("simdcl", DCLModel, lambda: DCLConfig(lambda_nce=1.0, lambda_sim=10.0, head_lr=None),
         train={"epochs": 400, "decay_fraction": 0.5, "lr": 2e-4}, data=REFERENCE_DATA,
         presets={"paper-text": SIMDCL_PAPER_TEXT},
         description="SimDCL: DCLGAN plus the similarity loss between same-domain embeddings")
