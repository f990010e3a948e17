"""PatchNCE plumbing shared by the contrastive translators (CUT, FastCUT, DCLGAN, SimDCL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from pairless.errors import PairlessError
from pairless.fields import Checked, bounded
from pairless.losses.patchnce import Negatives, grouped_patch_nce_loss
from pairless.nn.patch_sampler import PatchSampleMLP, per_layer
from pairless.nn.taps import TappedGenerator

ANTIALIAS_UP_MIN_SIZE = 128
"""Crops below this size upsample with transposed convolutions by default instead of the reference's blurred
upsampling. The blur is a low-pass: each 2x upsampling halves textures of a 4 px period and removes 2 px
ones, which at 64 px are the domain's textures themselves (zebra-like bands); the generator renders them
soft, the discriminator separates real from generated images on them and runs away (measured on the
`stripes` task; README, notes on the reference implementations)."""


def antialias_up_for(size: int) -> bool:
    return size >= ANTIALIAS_UP_MIN_SIZE


REFERENCE_DATA = {"full_frame_decay": True}
"""Data defaults of the contrastive translators: their reference code stops random cropping once the
learning rate decays (its "fine-tuning" epochs)."""


@dataclass
class PatchNCEOptions(Checked):
    """The PatchNCE settings every contrastive method exposes (defaults: CUT)."""

    nce_layers: tuple[int, ...] = bounded((0, 4, 8, 12, 16), at_least=0)
    """Generator layers whose features PatchNCE compares (indices into its layer list)."""
    num_patches: int = bounded(256, at_least=1)
    """Patch positions sampled per layer and image."""
    nce_temperature: float = bounded(0.07, above=0)
    """Temperature of PatchNCE's softmax."""
    nce_negatives: Negatives = "image"
    """image: negatives from the same image (CUT); batch: from every image of the batch."""
    head_dim: int = bounded(256, at_least=1)
    """Output width of the patch projection MLPs."""

    def cross_check(self) -> None:
        if not self.nce_layers:
            raise PairlessError("--nce-layers needs at least one layer index")
        if list(self.nce_layers) != sorted(set(self.nce_layers)):
            raise PairlessError(f"--nce-layers must be increasing without repeats, got {self.nce_layers}")


def check_nce_layers(generator: TappedGenerator, layers: Sequence[int], n_blocks: int) -> None:
    if max(layers) >= generator.encoder_end:
        raise PairlessError(
            f"--nce-layers {','.join(map(str, layers))} reaches past the encoder (layers 0.."
            f"{generator.encoder_end - 1} with --n-blocks {n_blocks}); use lower layers or more blocks"
        )


@dataclass
class SampledPatchNCE:
    loss: Tensor
    """The mean over layers; with `parts`, one per part of the batch, [parts]."""
    queries: list[Tensor]
    """Projected query patches per layer, [batch * patches, dim]."""
    keys: list[Tensor]


def sampled_patch_nce(query_features: Sequence[Tensor], key_features: Sequence[Tensor],
                      query_head: PatchSampleMLP, key_head: PatchSampleMLP, options: PatchNCEOptions,
                      keys_need_grad: bool = False, num_patches: int | None = None, parts: int = 1) -> SampledPatchNCE:
    """Sample the same positions in both feature sets, project each with its head, and score PatchNCE.

    The loss never sends gradient into the keys; `keys_need_grad` keeps their graph for other terms
    (SimDCL's similarity loss) and otherwise they are projected without one. `num_patches` replaces
    `options.num_patches` (positions per layer). `parts` scores equal parts of the batch as separate
    calls would (own positions, own loss) in one batched pass: CUT's NCE and NCE identity terms.
    """
    count = num_patches or options.num_patches
    queries, ids = query_head.project(query_features, count, parts=parts)
    with torch.set_grad_enabled(keys_need_grad and torch.is_grad_enabled()):
        keys, _ = key_head.project(key_features, count, ids)
    batch = query_features[0].shape[0]
    loss = grouped_patch_nce_loss([g.samples for g in queries], [g.samples for g in keys], batch,
                                  options.nce_temperature, options.nce_negatives, parts)
    return SampledPatchNCE(loss, per_layer(queries), per_layer(keys))
