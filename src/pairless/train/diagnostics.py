"""Stability diagnostics of GAN discriminators, logged as `diag/...` scalars at every log step.

ContraGAN's paper watches two signs of a discriminator heading for collapse:
- its accuracy at calling real images real, on training images vs held-out ones: a growing gap means D
  memorises the training set (`diag/D_real_acc_train`, `..._heldout`, `..._gap`; `diag/D_fake_acc` is its
  accuracy at calling generated images fake);
- the largest singular value of each weight (`diag/sigma/<network>.<layer>`): sudden jumps come with
  collapse. Under spectral norm this is the singular value of the raw weight, before normalisation.

A model opts in by overriding the Method hooks `discriminator_networks()`, `realness(images, labels)` and
`generate(labels, generator)` (see models/conditional.py); other models log no diagnostics.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from pairless.models.base import Method

DIAGNOSTICS_SEED = 0


def raw_weight(module: nn.Module) -> Tensor | None:
    """A layer's weight as trained (the parameter under a spectral-norm parametrisation), or None."""
    if parametrize.is_parametrized(module, "weight"):
        return cast(Any, module).parametrizations.weight.original
    weight = getattr(module, "weight", None)
    return weight if isinstance(weight, nn.Parameter) else None


def weight_matrix(module: nn.Module, weight: Tensor) -> Tensor:
    """[out, in * k * k] for convolutions (as spectral norm reshapes them), the weight itself otherwise."""
    if isinstance(module, nn.ConvTranspose2d):
        weight = weight.transpose(0, 1)
    return weight.flatten(1)


@torch.no_grad()
def largest_singular_values(networks: dict[str, nn.Module]) -> dict[str, float]:
    """{'diag/sigma/<net>.<layer>': sigma_max} for every weight matrix of at least two dimensions."""
    values = {}
    for net_name, network in networks.items():
        for name, module in network.named_modules():
            weight = raw_weight(module)
            if weight is None or weight.ndim < 2:
                continue
            matrix = weight_matrix(module, weight).float()
            values[f"diag/sigma/{net_name}.{name}" if name else f"diag/sigma/{net_name}"] = float(
                torch.linalg.svdvals(matrix)[0])
    return values


def accuracy(logits: Tensor, real: bool) -> float:
    """Share of logits on the right side of 0 (positive for real images, negative for generated ones)."""
    return float(((logits > 0) == real).float().mean())


@torch.no_grad()
def discriminator_accuracies(model: Method, batch: dict[str, Tensor]) -> dict[str, float]:
    """D's accuracy on the fixed training and held-out probe images, and on generated images of the same
    classes (noise from a fixed seed, so the global random state is untouched)."""
    values = {}
    for split in ("train", "heldout"):
        if f"probe_{split}" in batch:
            logits = model.realness(batch[f"probe_{split}"], batch[f"probe_{split}_label"])
            values[f"diag/D_real_acc_{split}"] = accuracy(logits, real=True)
    if len(values) == 2:
        values["diag/D_real_acc_gap"] = values["diag/D_real_acc_train"] - values["diag/D_real_acc_heldout"]
    if "probe_train" in batch:
        labels = batch["probe_train_label"]
        fakes = model.generate(labels, torch.Generator().manual_seed(DIAGNOSTICS_SEED))
        values["diag/D_fake_acc"] = accuracy(model.realness(fakes, labels), real=False)
    return values


def collect_diagnostics(model: Method, batch: dict[str, Tensor]) -> dict[str, float]:
    """All diagnostics of a model with `discriminator_networks` ({} otherwise), measured in eval mode (so
    spectral norm's power iteration and batch-norm statistics are not advanced)."""
    networks = model.discriminator_networks()
    if not networks:
        return {}
    was_training = model.training
    model.eval()
    try:
        return {**discriminator_accuracies(model, batch), **largest_singular_values(networks)}
    finally:
        model.train(was_training)
