"""The model contract: what the trainer, translate and evaluation may rely on.

A model owns its networks (as submodules, so its state_dict is everything it saves), declares which
networks each optimiser steps, and implements one training step through the trainer's `Updater`, which
owns backward, gradient scaling and the optimiser steps.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol, TypeVar

import torch
from torch import Tensor, nn

from pairless.errors import PairlessError
from pairless.models.image_pool import ImagePool
from pairless.nn.ugatit import CAMOutput

DIRECTIONS = ("AtoB", "BtoA")
T = TypeVar("T")


def resolved(value: T | None, option: str) -> T:
    """A config field that `RunConfig.resolved()` fills from the crop size; None only in unresolved configs."""
    if value is None:
        raise PairlessError(f"option '{option}' is unset: build models from RunConfig.resolved()")
    return value


@dataclass(frozen=True)
class OptimizerGroup:
    """One optimiser over the parameters of the named networks; None fields take the run's values."""

    name: str
    networks: tuple[str, ...]
    lr: float | None = None
    betas: tuple[float, float] | None = None
    weight_decay: float | None = None
    kind: Literal["adam", "rmsprop"] = "adam"


class Updater(Protocol):
    def step(self, loss: Tensor, *groups: str) -> None:
        """Backpropagate `loss` and step the optimisers of `groups` (their gradients zeroed first)."""


class Method(nn.Module):
    """What the trainer, checkpoints and inference may rely on, with every optional hook's default.

    A method is built from its config and the channel counts of the data (`build`), says which networks each
    optimiser steps, and runs one training step through the trainer's `Updater`.
    """

    data_kind: ClassVar[Literal["unpaired", "labelled"]] = "unpaired"
    """The training data: two unpaired image domains, or labelled images (class folders, IDX files)."""
    size_multiple: int = 4
    """Image sides must be multiples of this (the generators downsample twice); inputs are padded to it."""
    has_attention_maps: ClassVar[bool] = False
    """Whether `translate_with_attention` gives the generator's attention heat-maps (U-GAT-IT)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self._host_scalars: dict[str, int] = {}
        self.register_load_state_dict_post_hook(_forget_host_scalars)

    @classmethod
    def build(cls, config, channels_a: int, channels_b: int) -> Method:
        """The model for data with these channel counts (domain A, domain B; labelled data has only A)."""
        raise NotImplementedError

    def register_host_scalar(self, name: str, dtype: torch.dtype = torch.long) -> None:
        """A scalar buffer, 0 at first, that training reads every iteration (e.g. an iteration counter).

        It is saved with the weights like any buffer, and its value is also kept on the host, so reading
        it with `host_scalar` does not wait for the device; after loading weights it is read once."""
        self.register_buffer(name, torch.zeros((), dtype=dtype))
        self._host_scalars[name] = 0

    def host_scalar(self, name: str) -> int:
        if name not in self._host_scalars:
            self._host_scalars[name] = int(getattr(self, name))
        return self._host_scalars[name]

    def set_host_scalar(self, name: str, value: int) -> None:
        getattr(self, name).fill_(value)
        self._host_scalars[name] = value

    def optimizer_groups(self) -> list[OptimizerGroup]:
        raise NotImplementedError

    def train_step(self, batch: dict[str, Tensor], updater: Updater) -> dict[str, Tensor]:
        """Run one iteration's updates; return the scalar losses as (undetached is fine) tensors."""
        raise NotImplementedError

    def translate(self, images: Tensor, direction: str = "AtoB") -> Tensor:
        """Images in [-1, 1], shape [N, C, H, W] with H, W multiples of `size_multiple`."""
        raise NotImplementedError

    def translate_with_attention(self, images: Tensor, direction: str = "AtoB") -> CAMOutput:
        """The translation with its attention heat-map; only models with `has_attention_maps` have it."""
        raise NotImplementedError

    def visuals(self, batch: dict[str, Tensor]) -> list[dict[str, Tensor]]:
        """Rows for sample grids: each dict is one group of columns (e.g. real_A | fake_B | idt_B)."""
        raise NotImplementedError

    def training_state(self) -> dict[str, Tensor]:
        """Non-weight state needed to resume exactly: by default the contents of the model's image pools."""
        return {name: pool.state() for name, pool in self.image_pools()}

    def load_training_state(self, state: dict[str, Tensor]) -> None:
        pools = self.image_pools()
        if pools:
            device = next(self.parameters()).device
            for name, pool in pools:
                pool.load_state(state[name], device)

    def image_pools(self) -> list[tuple[str, ImagePool]]:
        """The image pools held as attributes (e.g. CycleGAN's pool_A and pool_B), by attribute name."""
        return [(name, value) for name, value in vars(self).items() if isinstance(value, ImagePool)]

    def discriminator_losses(self) -> tuple[str, ...]:
        """Logged discriminator losses that reach 0 only when D separates real from generated images
        perfectly (LSGAN, BCE and hinge objectives): training warns when they stay near 0."""
        return ("D", "D_A", "D_B")

    def after_optimizer_step(self, group: str) -> None:
        """Called right after optimiser `group` stepped: the place for parameter constraints
        (e.g. clipping a critic's weights or a normalisation's mixing ratio)."""
        del group

    def discriminator_networks(self) -> dict[str, nn.Module]:
        """The discriminators whose stability is logged (diag/...; train/diagnostics.py) with `realness` and
        `generate`; none by default."""
        return {}

    def realness(self, images: Tensor, labels: Tensor) -> Tensor:
        """D's logits (positive: real) for labelled images; needed where `discriminator_networks` is not empty."""
        raise NotImplementedError

    def generate(self, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Images of the given classes in [-1, 1]; class-conditional methods only."""
        raise NotImplementedError


class TranslationModel(Method):
    """A method that translates images between two domains A and B."""

    directions: tuple[str, ...] = ("AtoB",)
    """The directions it translates: its class's, or fewer for a checkpoint without some generator."""
    direction_networks: ClassVar[dict[str, str]] = {"AtoB": "G"}
    """The network that translates each direction."""

    def __init__(self, config, channels_a: int = 3, channels_b: int = 3):
        super().__init__(config)
        self.channels_a = channels_a
        self.channels_b = channels_b

    def crop_networks(self) -> dict[str, int]:
        """The networks that take training images, with their input channels: what must work at the crop size
        (train/datasets.py checks it before training)."""
        a, b = self.channels_a, self.channels_b
        candidates = {"G": a, "D": b, "G_AB": a, "G_BA": b, "D_A": a, "D_B": b}
        return {name: channels for name, channels in candidates.items() if isinstance(getattr(self, name, None),
                                                                                      nn.Module)}

    def keep_directions_of(self, networks: Sequence[str], source: object) -> None:
        """Translate only in the directions whose generator is among `networks` (the ones `source`, an
        imported checkpoint, holds)."""
        self.directions = tuple(d for d in type(self).directions if self.direction_networks.get(d) in networks)
        if not self.directions:
            raise PairlessError(f"{source} holds no generator ({', '.join(networks)}), so it translates nothing")

    @classmethod
    def build(cls, config, channels_a: int, channels_b: int) -> TranslationModel:
        return cls(config, channels_a, channels_b)

    def input_channels(self, direction: str) -> int:
        self.check_direction(direction)
        return self.channels_a if direction == "AtoB" else self.channels_b

    def output_channels(self, direction: str) -> int:
        self.check_direction(direction)
        return self.channels_b if direction == "AtoB" else self.channels_a

    def check_direction(self, direction: str) -> None:
        if direction in type(self).directions and direction not in self.directions:
            raise PairlessError(
                f"--direction {direction} is not available: this checkpoint holds no {direction} generator "
                f"({self.direction_networks[direction]}); it translates {' and '.join(self.directions)}"
            )
        if direction not in self.directions:
            raise PairlessError(
                f"--direction {direction} is not available: this model translates {' and '.join(self.directions)}"
            )


class CycleTranslationModel(TranslationModel):
    """Models with a generator per direction, `G_AB` and `G_BA` (CycleGAN, DCLGAN, DualGAN, DiscoGAN):
    translation both ways and sample grids that show each image's round trip."""

    directions = DIRECTIONS
    direction_networks = {"AtoB": "G_AB", "BtoA": "G_BA"}
    G_AB: nn.Module
    G_BA: nn.Module

    def translate(self, images: Tensor, direction: str = "AtoB") -> Tensor:
        self.check_direction(direction)
        return self.G_AB(images) if direction == "AtoB" else self.G_BA(images)

    def visuals(self, batch: dict[str, Tensor]) -> list[dict[str, Tensor]]:
        fake_b, fake_a = self.G_AB(batch["A"]), self.G_BA(batch["B"])
        return [{"real_A": batch["A"], "fake_B": fake_b, "rec_A": self.G_BA(fake_b)},
                {"real_B": batch["B"], "fake_A": fake_a, "rec_B": self.G_AB(fake_a)}]


def _forget_host_scalars(model: Method, incompatible_keys) -> None:
    """Loaded weights bring their own values of the host scalars: read them again when next needed."""
    del incompatible_keys
    model._host_scalars.clear()


def scores_of_real_and_fake(discriminator: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """The discriminator's outputs on real and on generated images from one pass over both (half the
    launches of two passes); the same outputs for discriminators that score each image on its own
    (instance norm or none, as PatchGAN; not batch norm)."""
    scores = discriminator(torch.cat([real, fake]))
    return scores[:real.shape[0]], scores[real.shape[0]:]


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Stop gradients into `modules` (e.g. D during the generator update) and restore them afterwards."""
    params = [p for m in modules for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)


def same_channels_or_warn(model: TranslationModel, what: str) -> bool:
    """Identity terms need both domains to have the same channel count; say so once when they do not."""
    if model.channels_a == model.channels_b:
        return True
    warnings.warn(f"{what} is skipped: domain A has {model.channels_a} channels and B has {model.channels_b}",
                  stacklevel=3)
    return False

