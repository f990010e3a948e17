"""DTN, the Domain Transfer Network (Taigman et al., ICLR 2017): G = g o f with a fixed encoder f.

Losses of the generator g (f stays fixed):
- GAN with a three-way discriminator (G(source), G(target), real target), both kinds of G's outputs
  wanting the label "real target";
- f-constancy alpha * ||f(x) - f(G(x))||^2 for source images x;
- target identity beta * ||y - G(y)||^2 for target images y, and gamma * TV(G(x)).
Paper weights: digits alpha = beta = 15, gamma = 0 (the default: the built-in tasks are small synthetic
images like the digits; on them the faces weights gave noisier outputs in short runs); faces (with a
strong pre-trained f) alpha = 100, beta = 1, gamma = 0.05.

f comes from one of two places:
- `--encoder FILE`: a safetensors file with the weights of this encoder (a bare state dict, or any
  pairless DTN checkpoint, whose `f.` weights are taken), read on the first training step;
- otherwise pairless pre-trains it: the first `pretrain_steps` iterations train f with a decoder as an
  auto-encoder of source images (L1), after which f is frozen and the DTN losses take over.
Either way f's weights live in every checkpoint, so `translate` needs nothing else. f and g are fully
convolutional (16x downsampling) rather than ending in a 1x1 code, so any multiple of 16 px works.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from pairless.data.images import LUMA
from pairless.errors import PairlessError
from pairless.fields import bounded
from pairless.losses.ternary import ternary_discriminator_loss, ternary_generator_loss
from pairless.losses.total import Objective, logged
from pairless.losses.tv import total_variation
from pairless.models.base import OptimizerGroup, TranslationModel, Updater, frozen
from pairless.models.feature_losses import FeatureLossOptions, feature_losses
from pairless.models.options import NetworkOptions
from pairless.models.registry import register
from pairless.nn.encoder_decoder import ConvDecoder, ConvDiscriminator, ConvEncoder, Norm
from pairless.nn.init import InitScheme, init_weights


@dataclass
class DTNConfig(NetworkOptions, FeatureLossOptions):
    feature_dim: int = bounded(128, at_least=1)
    """Channels of f's output (the paper's digit encoder has 128)."""
    norm: Norm = "batch"
    encoder: str = ""
    """Safetensors file with the weights of f (see the module docs); empty = pre-train f here."""
    pretrain_steps: int = bounded(1000, at_least=0)
    """Auto-encoder iterations that train f first (only without --encoder)."""
    alpha: float = bounded(15.0, at_least=0)
    """Weight of the f-constancy loss (faces: 100)."""
    beta: float = bounded(15.0, at_least=0)
    """Weight of the target-identity loss (faces: 1)."""
    gamma: float = bounded(0.0, at_least=0)
    """Weight of the total variation of G(source) (faces: 0.05)."""
    init: InitScheme = "xavier"
    init_gain: float = 1.0

    def cross_check(self) -> None:
        if not self.encoder and self.pretrain_steps == 0:
            raise PairlessError("DTN needs an encoder: give --encoder FILE or --pretrain-steps above 0")


class DTNModel(TranslationModel):
    size_multiple = 16
    iteration: Tensor
    encoder_loaded: Tensor

    def __init__(self, config: DTNConfig, channels_a: int = 3, channels_b: int = 3):
        super().__init__(config, channels_a, channels_b)
        c = config
        w = c.width
        self.f = ConvEncoder(channels_a, [w, 2 * w, 4 * w, c.feature_dim], kernel=3, norm=c.norm,
                             activation="relu", first_norm=True, last_activation="tanh")
        self.g = ConvDecoder(c.feature_dim, [4 * w, 2 * w, w], channels_b, norm=c.norm)
        self.D = ConvDiscriminator(channels_b, [2 * w, 4 * w, 8 * w], out_channels=3, kernel=3, norm=c.norm)
        self.pretrains = not c.encoder
        if self.pretrains:
            self.decoder = ConvDecoder(c.feature_dim, [4 * w, 2 * w, w], channels_a, norm=c.norm)
        for net in self.children():
            init_weights(net, c.init, c.init_gain)
        self.f.requires_grad_(self.pretrains)
        self.register_host_scalar("iteration")
        self.register_host_scalar("encoder_loaded", torch.bool)

    def optimizer_groups(self) -> list[OptimizerGroup]:
        groups = [OptimizerGroup("G", ("g",)), OptimizerGroup("D", ("D",))]
        if self.pretrains:
            groups.append(OptimizerGroup("AE", ("f", "decoder")))
        return groups

    def pretraining(self) -> bool:
        return self.pretrains and self.host_scalar("iteration") < self.config.pretrain_steps

    def train_step(self, batch: dict[str, Tensor], updater: Updater) -> dict[str, Tensor]:
        if not self.pretrains and not self.host_scalar("encoder_loaded"):
            self.load_encoder(self.config.encoder)
        pretraining = self.pretraining()
        self.f.train(pretraining)  # a fixed f also keeps its batch-norm statistics fixed
        self.f.requires_grad_(pretraining)
        losses = self.autoencoder_step(batch["A"], updater) if pretraining else self.transfer_step(batch, updater)
        self.set_host_scalar("iteration", self.host_scalar("iteration") + 1)
        return losses

    def autoencoder_step(self, source: Tensor, updater: Updater) -> dict[str, Tensor]:
        ae = Objective("AE", {"ae": F.l1_loss(self.decoder(self.f(source)).float(), source.float())})
        updater.step(ae.total, "AE")
        return logged(ae)

    def transfer_step(self, batch: dict[str, Tensor], updater: Updater) -> dict[str, Tensor]:
        c = self.config
        source, target = batch["A"], batch["B"]
        code_source = self.f(source).detach()
        fake_from_source = self.g(code_source)
        fake_from_target = self.transfer(target)

        d = Objective("D", {"D": ternary_discriminator_loss(self.D(fake_from_source.detach()),
                                                            self.D(fake_from_target.detach()), self.D(target))})
        updater.step(d.total, "D")

        with frozen(self.D):
            terms = {"G_gan": ternary_generator_loss(self.D(fake_from_source), self.D(fake_from_target))}
            extra = feature_losses(c, self.D, target, fake_from_source)
        code_fake = self.f(to_channels(fake_from_source, self.channels_a))
        terms["const"] = F.mse_loss(code_fake.float(), code_source.float())
        terms["tid"] = F.mse_loss(fake_from_target.float(), target.float())
        terms["tv"] = total_variation(fake_from_source)
        g = Objective("G", terms | extra, {"const": c.alpha, "tid": c.beta, "tv": c.gamma, **c.feature_weights()})
        updater.step(g.total, "G")
        return logged(d, g)

    def transfer(self, images: Tensor) -> Tensor:
        """G = g o f for images of either domain (target images are converted to the source's channels)."""
        return self.g(self.f(to_channels(images, self.channels_a)))

    def load_encoder(self, path: str) -> None:
        """Copy f's weights from a safetensors file (a bare encoder or a pairless DTN checkpoint)."""
        try:
            tensors = load_file(Path(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise PairlessError(f"cannot read --encoder {path}: {exc}") from None
        if any(key.startswith("f.") for key in tensors):
            tensors = {key[2:]: value for key, value in tensors.items() if key.startswith("f.")}
        expected = self.f.state_dict()
        if set(tensors) != set(expected) or any(tensors[k].shape != v.shape for k, v in expected.items()):
            raise PairlessError(f"--encoder {path} does not hold weights of this DTN encoder (check --width "
                                f"{self.config.width}, --feature-dim {self.config.feature_dim} and --norm "
                                f"{self.config.norm}, and the source channels {self.channels_a})")
        self.f.load_state_dict(tensors)
        self.set_host_scalar("encoder_loaded", 1)

    def translate(self, images: Tensor, direction: str = "AtoB") -> Tensor:
        self.check_direction(direction)
        return self.transfer(images)

    def visuals(self, batch: dict[str, Tensor]) -> list[dict[str, Tensor]]:
        return [{"real_A": batch["A"], "fake_B": self.transfer(batch["A"]),
                 "real_B": batch["B"], "idt_B": self.transfer(batch["B"])}]


def to_channels(images: Tensor, channels: int) -> Tensor:
    """[N, C, H, W] between gray (1) and colour (3) channels, as f expects its domain's count."""
    if images.shape[1] == channels:
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1)
    weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


register("dtn", DTNModel, DTNConfig, train={"lr": 3e-4, "beta1": 0.9, "epochs": 100, "decay_fraction": 0.0},
         description="DTN: G = g(f(x)) with a fixed (given or auto-encoder pre-trained) encoder f, "
                     "three-way discriminator, f-constancy, target identity and TV")
