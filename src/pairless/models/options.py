"""Network settings several methods share, declared once with their bounds.

A method's config derives from the mixin that fits it and redeclares a field only to change its default;
the bounds declared here still apply then (see pairless.fields).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Self

from pairless.fields import Checked, bounded
from pairless.nn.init import InitScheme


class ModelConfig(Checked):
    """Base of every method's config (a dataclass of its settings and their bounds)."""

    def for_size(self, size: int) -> Self:
        """These settings with the fields left None, to be chosen by the crop size, filled in (saved so into
        the checkpoint); `RunConfig.resolved()` calls it."""
        del size
        return self

    @property
    def batches_per_step(self) -> int:
        """Batches of real images one training step reads (the trainer's sampler gives it that many)."""
        return 1

    def discriminator_schedule(self) -> str:
        """The discriminator's updates per generator step, in words (for `pairless models NAME`)."""
        return "1 step per generator step"

    @property
    def history_pool(self) -> int:
        """Generated images kept per domain for the discriminator's updates; 0: it sees the current ones."""
        return 0


@dataclass
class NetworkOptions(ModelConfig):
    width: int = bounded(64, at_least=1)
    """Channels of the networks' first layers (the deeper layers have multiples of it)."""
    init: InitScheme = "normal"
    """Weight initialisation scheme of the networks (normal, xavier, kaiming, orthogonal); as an option --model.init,
    since --init names weights to start from."""
    init_gain: float = bounded(0.02, above=0)
    """Scale (standard deviation or gain) of that initialisation."""


@dataclass
class ResnetOptions(NetworkOptions):
    """A ResNet generator and a PatchGAN discriminator (CUT, FastCUT, CycleGAN, DCLGAN, SimDCL)."""

    n_blocks: int | None = bounded(None, at_least=0)
    """Residual blocks of the generator; None: 9 for crops of 256 px and more, else 6."""
    d_layers: int = bounded(3, at_least=1)
    """Layers of the PatchGAN discriminator (3: the 70x70 receptive field)."""
    antialias: bool = False
    """Anti-aliased (blurred) downsampling in G and D, as CUT's reference code."""

    def for_size(self, size: int) -> Self:
        return self if self.n_blocks is not None else replace(self, n_blocks=9 if size >= 256 else 6)
