"""DTN's three-way adversarial objective (Taigman et al., ICLR 2017).

The discriminator classifies each image (or each patch, for a patch map of logits [N, 3, h, w]) as
generated from a source image, generated from a target image, or a real target image. The generator
wants both kinds of its outputs classified as real target images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

FAKE_FROM_SOURCE, FAKE_FROM_TARGET, REAL_TARGET = 0, 1, 2


def class_loss(logits: Tensor, label: int) -> Tensor:
    """Cross-entropy of 3-class logits [N, 3, ...] against one label for every position."""
    logits = logits.float()
    target = torch.full((logits.shape[0], *logits.shape[2:]), label, dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)


def ternary_discriminator_loss(fake_from_source: Tensor, fake_from_target: Tensor, real_target: Tensor) -> Tensor:
    return (class_loss(fake_from_source, FAKE_FROM_SOURCE) + class_loss(fake_from_target, FAKE_FROM_TARGET)
            + class_loss(real_target, REAL_TARGET))


def ternary_generator_loss(fake_from_source: Tensor, fake_from_target: Tensor) -> Tensor:
    return class_loss(fake_from_source, REAL_TARGET) + class_loss(fake_from_target, REAL_TARGET)
