"""U-GAT-IT (Kim et al., ICLR 2020): CycleGAN-style translation both ways with attention and AdaLIN.

Each generator's auxiliary classifier (CAM) learns to tell its source domain from its target domain; its
weights re-weight the encoder's channels, so the decoder concentrates on the regions that differ between
the domains. The decoder normalises with AdaLIN, whose learned ratio ρ chooses per channel between instance
norm (keeps content) and layer norm (allows shape changes). Each domain has a global and a local
discriminator, each with its own CAM classifier whose logits are judged like the patch outputs.

`ugatit` computes AdaLIN's γ, β from the whole attended feature map (a large linear layer), `ugatit-light`
from its global average, which is what makes the light model fit on smaller GPUs.

The paper's numbers come from the TensorFlow code (taki0112/UGATIT), so its details are the defaults
(`--reference-code tensorflow`); `--reference-code pytorch` follows the PyTorch port (znxlwm/UGATIT-pytorch):
- γ/β MLP: TensorFlow gives its two hidden layers and its γ and β heads biases; PyTorch has none.
- CAM classifiers (G and D): TensorFlow's has a bias, and adds it to every channel weight of the
  attention too; PyTorch's have none.
- Discriminators: TensorFlow draws every weight from N(0, 0.02) (spectral norm on top) and gives the
  output convolution a bias; PyTorch keeps torch's default initialisation and no output bias.
- AdaLIN / ILN: TensorFlow normalises with population variances, PyTorch with unbiased (n − 1) ones.
- The discriminators' CAM attention weights the channels by the spectrally normalised classifier weight in
  TensorFlow, by the stored, unnormalised one in PyTorch.
- One CAM classifier shared by the average- and max-pooled paths (TensorFlow; PyTorch has two:
  `--no-shared-cam-classifier`).
- Generators start from N(0, 0.02) in both (`--init`; the PyTorch port leaves torch's default).
Differences from both: instance norm without affine parameters in the encoder (TensorFlow's has them,
PyTorch's not), and the full model pools its map to --mlp-grid so that other image sizes translate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from pairless.errors import PairlessError
from pairless.fields import bounded
from pairless.losses.adversarial import discriminator_loss, generator_loss
from pairless.losses.reconstruction import cycle_loss, identity_loss
from pairless.losses.total import Objective, logged
from pairless.models.base import DIRECTIONS, OptimizerGroup, TranslationModel, Updater, frozen, resolved
from pairless.models.options import NetworkOptions
from pairless.models.registry import register
from pairless.nn.adalin import clip_mixing_ratios
from pairless.nn.init import InitScheme, init_weights
from pairless.nn.ugatit import CAMOutput, UGATITDiscriminator, UGATITGenerator, heatmap_image, min_discriminator_input

PAPER_GLOBAL_LAYERS = 7
TF_INIT_STD = 0.02
"""The TensorFlow code draws every weight from N(0, 0.02)."""


@dataclass
class UGATITConfig(NetworkOptions):
    n_blocks: int = bounded(4, at_least=0)
    """Residual blocks in the encoder, and as many AdaLIN blocks in the decoder."""
    light: bool = False
    """γ, β of AdaLIN from the global average of the attended map (U-GAT-IT light) instead of the map."""
    mlp_grid: int | None = bounded(None, at_least=1)
    """Full model: side of the grid the attended map is average-pooled to before it is flattened into the
    γ/β MLP (mlp_grid² · 16 · width² weights). None (default): the crop size / 4, i.e. the whole map, as
    the reference (64 at 256 px). Ignored by the light model."""
    d_layers_global: int | None = bounded(None, at_least=3)
    """Layers of the global discriminator (n − 2 downsamplings; needs crops of 3·2^(n−2) px or more).
    None (default): the paper's 7 for crops of 96 px and more, else the most that fit (6 at 64 px)."""
    d_layers_local: int = bounded(5, at_least=3)
    """Layers of the local discriminator."""
    shared_cam_classifier: bool = True
    """One CAM classifier for the average- and max-pooled features (TensorFlow code), else two (PyTorch)."""
    reference_code: Literal["tensorflow", "pytorch"] = "tensorflow"
    """Whose small details to follow (biases of the γ/β MLP, CAM classifiers and D output; D's init; the
    variances of AdaLIN / ILN; D's CAM channel weights): the TensorFlow code behind the paper's numbers, or
    the PyTorch port, whose checkpoints `pairless import` reads (see the module docstring)."""
    lambda_gan: float = 1.0
    lambda_cycle: float = 10.0
    lambda_idt: float = 10.0
    lambda_cam: float = 1000.0
    init: InitScheme = "normal"
    """Initialisation of the generators (the discriminators' follows --reference-code)."""

    def for_size(self, size: int) -> UGATITConfig:
        if self.mlp_grid is not None and self.d_layers_global is not None:
            return self
        layers = self.d_layers_global
        if layers is None:
            layers = PAPER_GLOBAL_LAYERS
            while layers > 3 and min_discriminator_input(layers) > size:
                layers -= 1
        return replace(self, mlp_grid=self.mlp_grid or max(1, size // 4), d_layers_global=layers)


class UGATITModel(TranslationModel):
    directions = DIRECTIONS
    direction_networks = {"AtoB": "G_AB", "BtoA": "G_BA"}
    has_attention_maps = True
    G_AB: UGATITGenerator
    G_BA: UGATITGenerator
    D_global_A: UGATITDiscriminator
    D_local_A: UGATITDiscriminator
    D_global_B: UGATITDiscriminator
    D_local_B: UGATITDiscriminator

    def __init__(self, config: UGATITConfig, channels_a: int = 3, channels_b: int = 3):
        super().__init__(config, channels_a, channels_b)
        if channels_a != channels_b:
            raise PairlessError("U-GAT-IT needs the same --channels in both domains (its identity and CAM "
                                f"terms feed each generator images of both), got {channels_a} and {channels_b}")
        c = config
        grid = 1 if c.light else resolved(c.mlp_grid, "mlp_grid")
        tf = c.reference_code == "tensorflow"
        for name, source, target in (("G_AB", channels_a, channels_b), ("G_BA", channels_b, channels_a)):
            setattr(self, name, UGATITGenerator(source, target, c.width, c.n_blocks, grid, c.shared_cam_classifier,
                                                tf_biases=tf, unbiased_variance=not tf))
        d_init = TF_INIT_STD if tf else None
        d_layers = {"global": resolved(c.d_layers_global, "d_layers_global"), "local": c.d_layers_local}
        for name, channels in (("A", channels_a), ("B", channels_b)):
            for kind, layers in d_layers.items():
                setattr(self, f"D_{kind}_{name}",
                        UGATITDiscriminator(channels, c.width, layers, c.shared_cam_classifier, tf, d_init,
                                            raw_cam_weights=not tf))
        for net in (self.G_AB, self.G_BA):
            init_weights(net, c.init, c.init_gain)

    def optimizer_groups(self) -> list[OptimizerGroup]:
        return [OptimizerGroup("G", ("G_AB", "G_BA")),
                OptimizerGroup("D", ("D_global_A", "D_local_A", "D_global_B", "D_local_B"))]

    def after_optimizer_step(self, group: str) -> None:
        if group == "G":
            clip_mixing_ratios(self.G_AB)
            clip_mixing_ratios(self.G_BA)

    def train_step(self, batch: dict[str, Tensor], updater: Updater) -> dict[str, Tensor]:
        c = self.config
        real_a, real_b = batch["A"], batch["B"]
        self.check_crop_size(real_a)
        n = real_a.shape[0]
        # One pass per generator over both domains (all its norms are per sample): the translation of its
        # source images and the identity pass of its target images, with their CAM logits.
        out_ab = self.G_AB(torch.cat([real_a, real_b]))
        out_ba = self.G_BA(torch.cat([real_b, real_a]))
        fake_b, idt_b = out_ab.output.split(n)
        fake_a, idt_a = out_ba.output.split(n)

        d = Objective("D", {"D_A": self.discriminator_loss("A", real_a, fake_a.detach()),
                            "D_B": self.discriminator_loss("B", real_b, fake_b.detach())},
                      {"D_A": c.lambda_gan, "D_B": c.lambda_gan})
        updater.step(d.total, "D")

        rec_a, rec_b = self.G_BA(fake_b).output, self.G_AB(fake_a).output
        with frozen(self.D_global_A, self.D_local_A, self.D_global_B, self.D_local_B):
            gan_ab, gan_ba = self.generator_adversarial("B", fake_b), self.generator_adversarial("A", fake_a)
        g = Objective("G", {
            "G_gan_AB": gan_ab, "G_gan_BA": gan_ba,
            "cycle": cycle_loss(rec_a, real_a) + cycle_loss(rec_b, real_b),
            "idt": identity_loss(idt_b, real_b) + identity_loss(idt_a, real_a),
            "cam": source_domain_loss(out_ab.cam_logits, n) + source_domain_loss(out_ba.cam_logits, n),
        }, {"G_gan_AB": c.lambda_gan, "G_gan_BA": c.lambda_gan, "cycle": c.lambda_cycle, "idt": c.lambda_idt,
            "cam": c.lambda_cam})
        updater.step(g.total, "G")
        return logged(d, g)

    def discriminators(self, domain: str) -> tuple[UGATITDiscriminator, UGATITDiscriminator]:
        return getattr(self, f"D_global_{domain}"), getattr(self, f"D_local_{domain}")

    def discriminator_loss(self, domain: str, real: Tensor, fake: Tensor) -> Tensor:
        """LSGAN on the patch logits and on the CAM logits of the domain's global and local discriminator."""
        total = real.new_zeros((), dtype=torch.float32)
        for net in self.discriminators(domain):
            on_real, on_fake = net(real), net(fake)
            total = total + discriminator_loss("lsgan", on_real.output, on_fake.output)
            total = total + discriminator_loss("lsgan", on_real.cam_logits, on_fake.cam_logits)
        return total

    def generator_adversarial(self, domain: str, fake: Tensor) -> Tensor:
        total = fake.new_zeros((), dtype=torch.float32)
        for net in self.discriminators(domain):
            judged = net(fake)
            total = total + generator_loss("lsgan", judged.output) + generator_loss("lsgan", judged.cam_logits)
        return total

    def crop_networks(self) -> dict[str, int]:
        a, b = self.channels_a, self.channels_b
        return {**super().crop_networks(), "D_global_A": a, "D_local_A": a, "D_global_B": b, "D_local_B": b}

    def check_crop_size(self, images: Tensor) -> None:
        side = min(images.shape[-2:])
        for option in ("d_layers_global", "d_layers_local"):
            layers = getattr(self.config, option)
            if side < min_discriminator_input(layers):
                raise PairlessError(
                    f"--{option.replace('_', '-')} {layers} needs training crops of at least "
                    f"{min_discriminator_input(layers)} px, got {side} px: lower it or raise --size")

    def generator(self, direction: str) -> UGATITGenerator:
        self.check_direction(direction)
        return self.G_AB if direction == "AtoB" else self.G_BA

    def translate(self, images: Tensor, direction: str = "AtoB") -> Tensor:
        return self.generator(direction)(images).output

    def translate_with_attention(self, images: Tensor, direction: str = "AtoB") -> CAMOutput:
        """The translation, the CAM logits and the generator's attention heat-map [N, 1, H/4, W/4]."""
        return self.generator(direction)(images)

    def visuals(self, batch: dict[str, Tensor]) -> list[dict[str, Tensor]]:
        rows = []
        for source, target, forward, backward in (("A", "B", self.G_AB, self.G_BA),
                                                  ("B", "A", self.G_BA, self.G_AB)):
            real = batch[source]
            translated = forward(real)
            attention = heatmap_image(translated.heatmap, (real.shape[-2], real.shape[-1])) * 2 - 1
            rows.append({f"real_{source}": real, f"attention_{source}{target}": attention,
                         f"fake_{target}": translated.output, f"rec_{source}": backward(translated.output).output})
        return rows


def source_domain_loss(cam_logits: Tensor, n_source: int) -> Tensor:
    """BCE of a generator's CAM classifier: its first `n_source` rows come from its source domain
    (target 1), the rest from its target domain (the identity pass, target 0); the two terms are added,
    as in the paper."""
    logits = cam_logits.float()
    source, target = logits[:n_source], logits[n_source:]
    return (F.binary_cross_entropy_with_logits(source, torch.ones_like(source))
            + F.binary_cross_entropy_with_logits(target, torch.zeros_like(target)))


register("ugatit", UGATITModel, UGATITConfig,
         train={"steps": 1_000_000, "decay_fraction": 0.5, "lr": 1e-4, "weight_decay": 1e-4},
         description="U-GAT-IT: CAM attention and AdaLIN, global + local discriminators (full γ/β MLP)")
register("ugatit-light", UGATITModel, lambda: UGATITConfig(light=True),
         train={"steps": 1_000_000, "decay_fraction": 0.5, "lr": 1e-4, "weight_decay": 1e-4},
         description="U-GAT-IT light: γ, β of AdaLIN from the globally pooled features (less memory)")
