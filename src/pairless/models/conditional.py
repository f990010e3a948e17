"""Class-conditional GANs: ACGAN, ProjGAN and ContraGAN on one backbone (StudioGAN's comparison setting).

All three train a class-conditional generator (conditional batch norm) against a spectrally normalised
discriminator with the hinge loss; they differ only in how the discriminator uses the label:

- `acgan` (Odena et al.): an auxiliary classifier on D's features; D adds its cross-entropy on real images,
  G on its own images (StudioGAN's form: D does not learn the classes from generated images).
- `projgan` (Miyato & Koyama): D's logit gets the projection <embed(y), phi(x)>.
- `contragan` (Kang & Park): D's features are projected and compared with each other and with class proxies
  by the 2C loss (losses/conditional.py); D minimises it on real images, G on generated ones.

Each iteration takes `d_steps` discriminator steps, each on a fresh batch of real images (the trainer hands
the step d_steps batches, see `batches_per_step`) with fresh noise and uniformly drawn fake labels, then one
generator step; --steps, --epochs' iteration count and the learning-rate schedule count generator steps.
The default number follows StudioGAN's CIFAR-10 configurations per backbone: 2 for dcgan (its DCGAN config),
5 for resnet and biggan (its ResNet and BigGAN configs, and the paper's Table 1 BigGAN runs).

With `ema`, an exponential moving average of G (its weights and its batch-norm running statistics, as
StudioGAN's copy of BigGAN's EMA averages every entry of G's state; the spectral-norm power-iteration
vectors are copied) is kept beside G and used for sample grids and `pairless generate`.

`--preset cifar10-paper` is the paper's CIFAR-10 setting for all three methods (they share it in its
Table 1): the biggan backbone at width 96 with spectral norm in G and D, z 80, a 128-d shared class
embedding, 5 D steps, batch 64, Adam 2e-4 / β (0.5, 0.999) without decay for 80,000 generator steps, EMA
0.9999 from step 1,000, random horizontal flips.
These models train on labelled images (`data_kind = "labelled"`, see data/labelled.py), not on unpaired
domains, and have no translate(): they generate from class labels.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pairless.errors import PairlessError
from pairless.fields import bounded
from pairless.losses.adversarial import discriminator_loss, generator_loss
from pairless.losses.conditional import conditional_contrastive_loss
from pairless.losses.total import Objective, logged, mean_objective
from pairless.models.base import Method, OptimizerGroup, Updater, frozen, resolved
from pairless.models.options import ModelConfig
from pairless.models.registry import Preset, register
from pairless.nn.biggan import z_chunks
from pairless.nn.conditional import SIZES, Backbone, ConditionalDiscriminator, HeadKind, build_generator
from pairless.nn.gather import gather_rows

DEFAULT_D_STEPS = {"dcgan": 2, "resnet": 5, "biggan": 5}
"""StudioGAN's CIFAR-10 configurations: d_updates_per_step of its DCGAN config, d_steps_per_iter of its
ResNet (ACGAN/ProjGAN benchmark) and BigGAN (ContraGAN, and the paper's Table 1 BigGAN runs) configs.
(The paper-era Table 1 configs of its SNDCGAN and SNResGAN rows say 1 and 2.)"""
GRID_SAMPLES = 8
"""Columns of generated samples per class in the training sample grids."""
BN_STATISTICS = ("running_mean", "running_var")


@dataclass
class ConditionalGANConfig(ModelConfig):
    backbone: Backbone = "resnet"
    """dcgan (32 px), resnet or biggan (32 or 64 px)."""
    width: int = bounded(64, at_least=1)
    """Base channel count: the 32 px ResNet G has 4 x width channels, D 2 x width (SNGAN's 256/128 at 64)."""
    z_dim: int = bounded(128, at_least=1)
    """Length of the noise vector (biggan: a multiple of 4 at 32 px, of 5 at 64 px)."""
    shared_dim: int = bounded(128, at_least=1)
    """biggan: size of the class embedding shared by the generator's conditional batch norms."""
    d_steps: int | None = bounded(None, at_least=0)
    """Discriminator steps per generator step, each on fresh real images; None: 2 for dcgan, else 5."""
    embed_dim: int = bounded(512, at_least=1)
    """ContraGAN: size of the projected embeddings and class proxies (the paper's 512 on CIFAR-10)."""
    temperature: float = bounded(1.0, above=0)
    """ContraGAN: temperature of the 2C loss."""
    lambda_cond: float = bounded(1.0, at_least=0)
    """Weight of the conditioning loss (ACGAN cross-entropy, ContraGAN 2C); ProjGAN has none."""
    g_spectral_norm: bool = False
    """Spectral norm in the generator too (the discriminator always has it)."""
    ema: bool = False
    """Keep an exponential moving average of the generator's weights for sampling."""
    ema_decay: float = bounded(0.9999, at_least=0, below=1)
    ema_start: int = bounded(1000, at_least=0)
    """Generator updates before averaging starts (until then the average copies G)."""
    holdout: float = bounded(0.05, at_least=0, below=1)
    """Fraction of each class never trained on: the discriminator diagnostics compare it with training images."""
    num_classes: int | None = bounded(None, at_least=2)
    """None: the number of classes found in the data (set by the trainer)."""
    image_size: int | None = None
    """Set by the trainer from --size."""

    def cross_check(self) -> None:
        if self.image_size is not None and self.image_size not in SIZES[self.backbone]:
            sizes = " or ".join(map(str, SIZES[self.backbone]))
            raise PairlessError(f"--size {self.image_size}: the {self.backbone} backbone is built for {sizes} px "
                                f"(choose --size {sizes} or another --backbone)")
        if self.backbone == "biggan" and self.image_size and self.z_dim % z_chunks(self.image_size):
            parts = z_chunks(self.image_size)
            raise PairlessError(f"--z-dim {self.z_dim}: the biggan generator at {self.image_size} px splits z into "
                                f"{parts} equal parts; choose a multiple of {parts}")

    def for_size(self, size: int) -> ConditionalGANConfig:
        """Fill the settings left to the defaults of the backbone (the D steps)."""
        del size
        return self if self.d_steps is not None else replace(self, d_steps=DEFAULT_D_STEPS[self.backbone])

    @property
    def batches_per_step(self) -> int:
        """Batches of real images one training step consumes: one per discriminator step."""
        return self.d_steps or DEFAULT_D_STEPS[self.backbone]

    def discriminator_schedule(self) -> str:
        return (f"{self.batches_per_step} step(s) per generator step, each on a fresh batch of real images with "
                "fresh noise and labels; --steps and the learning-rate schedule count generator steps")


class ConditionalGAN(Method):
    """Generator G, discriminator D (with the method's head) and optionally G_ema."""

    data_kind = "labelled"
    head: ClassVar[HeadKind]
    ema_updates: Tensor

    def __init__(self, config: ConditionalGANConfig, channels: int = 3):
        super().__init__(config)
        if config.num_classes is None or config.image_size is None:
            raise PairlessError("the number of classes and the image size come from the data: train through "
                                "pairless.train.loop.train or set --num-classes and --image-size")
        self.channels = channels
        c = config
        size, classes = resolved(c.image_size, "image_size"), resolved(c.num_classes, "num_classes")
        self.G = build_generator(c.backbone, size, channels, classes, c.width, c.z_dim, c.g_spectral_norm,
                                 c.shared_dim)
        self.D = ConditionalDiscriminator(c.backbone, self.head, size, channels, classes, c.width, c.embed_dim)
        if c.ema:
            self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
            self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))

    @classmethod
    def build(cls, config: ConditionalGANConfig, channels_a: int, channels_b: int) -> ConditionalGAN:
        """Labelled images have one channel count (`channels_a`)."""
        del channels_b
        return cls(config, channels_a)

    @property
    def num_classes(self) -> int:
        return resolved(self.config.num_classes, "num_classes")

    def optimizer_groups(self) -> list[OptimizerGroup]:
        return [OptimizerGroup("D", ("D",)), OptimizerGroup("G", ("G",))]

    def discriminator_losses(self) -> tuple[str, ...]:
        """The hinge loss of D (see TranslationModel.discriminator_losses)."""
        return ("D_adv",)

    def train_step(self, batch: dict[str, Tensor], updater: Updater) -> dict[str, Tensor]:
        """`batch` holds one real batch per discriminator step, concatenated; D's losses are their means."""
        steps = self.config.batches_per_step
        if len(batch["label"]) % steps:
            raise ValueError(f"a step needs {steps} equal batches, got {len(batch['label'])} samples")
        d_steps = [self.discriminator_step(real, labels, updater)
                   for real, labels in zip(batch["image"].chunk(steps), batch["label"].chunk(steps), strict=True)]
        d = mean_objective(d_steps)

        z, fake_labels = self.sample_inputs(len(batch["label"]) // steps, batch["image"].device)
        with frozen(self.D):
            out = self.D(self.G(z, fake_labels), fake_labels)
        g = self.objective("G", generator_loss("hinge", out["logit"]), self.condition_loss(out, fake_labels))
        updater.step(g.total, "G")
        return logged(d, g)

    def objective(self, net: str, adversarial: Tensor, condition: Tensor) -> Objective:
        """The hinge loss and, weighted by lambda_cond, the conditioning loss (ProjGAN has none)."""
        terms = {f"{net}_adv": adversarial} | ({f"{net}_cond": condition} if self.head != "projgan" else {})
        return Objective(net, terms, {f"{net}_cond": self.config.lambda_cond})

    def discriminator_step(self, real: Tensor, labels: Tensor, updater: Updater) -> Objective:
        """One D update on real images against fresh generated ones."""
        z, fake_labels = self.sample_inputs(len(labels), real.device)
        with torch.no_grad():
            fake = self.G(z, fake_labels)
        out_real, out_fake = self.D(real, labels), self.D(fake, fake_labels)
        d = self.objective("D", discriminator_loss("hinge", out_real["logit"], out_fake["logit"]),
                           self.condition_loss(out_real, labels))
        updater.step(d.total, "D")
        return d

    def sample_inputs(self, count: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """Noise and uniformly drawn labels from the global generator (saved with checkpoints)."""
        z = torch.randn(count, self.config.z_dim, device=device)
        return z, torch.randint(self.num_classes, (count,), device=device)

    def condition_loss(self, out: dict[str, Tensor], labels: Tensor) -> Tensor:
        if self.head == "acgan":
            return F.cross_entropy(out["class_logits"].float(), labels)
        if self.head == "contragan":
            embeddings, offset = gather_rows(out["embedding"])
            others = (embeddings, gather_rows(labels)[0], offset)
            return conditional_contrastive_loss(out["embedding"], out["proxy"], labels, self.config.temperature,
                                                others)
        return out["logit"].new_zeros(())

    def after_optimizer_step(self, group: str) -> None:
        if group == "G" and self.config.ema:
            self._update_ema()

    @torch.no_grad()
    def _update_ema(self) -> None:
        """Average G's weights and batch-norm running statistics; copy its other buffers (spectral-norm
        power-iteration vectors, batch counters), which belong to the current weights."""
        decay = self.config.ema_decay if int(self.ema_updates) >= self.config.ema_start else 0.0
        for average, weight in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
            average.lerp_(weight, 1 - decay)
        for average_module, module in zip(self.G_ema.modules(), self.G.modules(), strict=True):
            averaged = BN_STATISTICS if isinstance(module, nn.modules.batchnorm._BatchNorm) else ()
            for name, current in module.named_buffers(recurse=False):
                average_buffer = getattr(average_module, name)
                if name in averaged:
                    average_buffer.lerp_(current, 1 - decay)
                else:
                    average_buffer.copy_(current)
        self.ema_updates += 1

    @property
    def sampler(self) -> nn.Module:
        """The generator to sample from: the moving average when kept."""
        return self.G_ema if self.config.ema else self.G

    def generate(self, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Images [N, C, H, W] in [-1, 1] of the classes `labels` [N]; noise from `generator` (CPU) if given."""
        z = torch.randn(len(labels), self.config.z_dim, generator=generator).to(labels.device)
        return self.sampler(z, labels)

    def realness(self, images: Tensor, labels: Tensor) -> Tensor:
        """D's adversarial logit (> 0: judged real)."""
        return self.D(images, labels)["logit"]

    def discriminator_networks(self) -> dict[str, nn.Module]:
        return {"D": self.D}

    def visuals(self, batch: dict[str, Tensor]) -> list[dict[str, Tensor]]:
        """One row per class: a real image, then GRID_SAMPLES generated ones (column j shares its noise)."""
        labels = batch["label"]
        generator = torch.Generator().manual_seed(0)
        noise = torch.randn(GRID_SAMPLES, self.config.z_dim, generator=generator).to(labels.device)
        row = {"real": batch["real"]}
        for j in range(GRID_SAMPLES):
            row[f"sample_{j}"] = self.sampler(noise[j].expand(len(labels), -1), labels)
        return [row]

    def training_state(self) -> dict[str, Tensor]:
        return {}

    def load_training_state(self, state: dict[str, Tensor]) -> None:
        del state

    def translate(self, images: Tensor, direction: str = "AtoB") -> Tensor:
        raise PairlessError(f"{type(self).__name__} generates images from class labels and translates none: "
                            f"use `pairless generate CHECKPOINT --class N`")


class ACGAN(ConditionalGAN):
    head = "acgan"


class ProjGAN(ConditionalGAN):
    head = "projgan"


class ContraGAN(ConditionalGAN):
    head = "contragan"


PRESET = {"batch_size": 64, "epochs": 100, "decay_fraction": 0.0, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999}
DATA_PRESET = {"size": 32, "flip": False}
CIFAR10_PAPER = Preset(
    "the paper's CIFAR-10 setting (StudioGAN Table 1 BigGAN configs): biggan backbone width 96, SN in G and D, "
    "z 80, 5 D steps, batch 64, 80k G steps, EMA from step 1k, random flips, no held-out images",
    {"model.backbone": "biggan", "model.width": 96, "model.z_dim": 80, "model.shared_dim": 128,
     "model.g_spectral_norm": True, "model.d_steps": 5, "model.embed_dim": 512, "model.temperature": 1.0,
     "model.ema": True, "model.ema_decay": 0.9999, "model.ema_start": 1000, "model.holdout": 0.0,
     "train.batch_size": 64, "train.steps": 80_000, "train.decay_fraction": 0.0, "train.lr": 2e-4,
     "train.beta1": 0.5, "train.beta2": 0.999, "data.size": 32, "data.flip": True})
PRESETS = {"cifar10-paper": CIFAR10_PAPER}

register("acgan", ACGAN, ConditionalGANConfig, train=PRESET, data=DATA_PRESET, presets=PRESETS,
         description="class-conditional GAN with an auxiliary classifier (labelled images)")
register("projgan", ProjGAN, ConditionalGANConfig, train=PRESET, data=DATA_PRESET, presets=PRESETS,
         description="class-conditional GAN with a projection discriminator (labelled images)")
register("contragan", ContraGAN, ConditionalGANConfig, train=PRESET, data=DATA_PRESET, presets=PRESETS,
         description="class-conditional GAN with the conditional contrastive 2C loss (labelled images)")
