"""Network settings several methods share, declared once with their bounds.

A method's config derives from the mixin that fits it and redeclares a field only to change its default;
the bounds declared here still apply then (see pairless.fields).
"""

from __future__ import annotations

from dataclasses import dataclass

from pairless.fields import Checked, bounded
from pairless.nn.init import InitScheme


@dataclass
class NetworkOptions(Checked):
    width: int = bounded(64, at_least=1)
    """Channels of the networks' first layers (the deeper layers have multiples of it)."""
    init: InitScheme = "normal"
    init_gain: float = 0.02


@dataclass
class ResnetOptions(NetworkOptions):
    """A ResNet generator and a PatchGAN discriminator (CUT, FastCUT, CycleGAN, DCLGAN, SimDCL)."""

    n_blocks: int | None = bounded(None, at_least=0)
    """Residual blocks of the generator; None: 9 for crops of 256 px and more, else 6."""
    d_layers: int = 3
    antialias: bool = False
