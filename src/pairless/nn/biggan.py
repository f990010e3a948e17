"""BigGAN-style class-conditional generator (Brock et al.) as StudioGAN builds it for ContraGAN's
CIFAR-10 (32 px) and Tiny ImageNet (64 px) experiments.

z is split into one chunk per residual block plus one for the input: the first chunk is mapped linearly to a
4x4 map, and every block's conditional batch norms read its own chunk concatenated with a class embedding
shared by all blocks ("hierarchical z", "shared embedding"): gain = 1 + W_g [e(y), z_i], bias = W_b [e(y), z_i].
Blocks are SNGAN's (batch norm, ReLU, nearest 2x upsampling, 3x3 convolutions, a 1x1 shortcut); a SAGAN
self-attention layer follows block 2 (32 px) or 3 (64 px); batch norm, ReLU, a 3x3 convolution and tanh
make the image. Weights start orthogonal; spectral norm applies to every convolution and linear map when
asked (the paper's configuration), not to the shared embedding.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pairless.nn.gan_layers import ResidualUpBlock, SelfAttention, conv, embedding, linear

PLANS = {32: (4, 4, 4, 4), 64: (16, 8, 4, 2, 1)}
"""Channel multiples of the width: the input map, then the output of each block."""
ATTENTION_AFTER = {32: 2, 64: 3}
BN_EPS = 1e-4


def z_chunks(size: int) -> int:
    """Parts z is split into: one for the input map and one per block (z_dim must be a multiple)."""
    return len(PLANS[size])


class SharedConditionalBatchNorm2d(nn.Module):
    """Parameter-free batch norm, then (1 + gain(c)) * x + bias(c) with gain, bias linear in the condition c."""

    def __init__(self, channels: int, condition_dim: int, sn: bool):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False, eps=BN_EPS)
        self.gain = linear(condition_dim, channels, sn=sn, bias=False)
        self.bias = linear(condition_dim, channels, sn=sn, bias=False)

    def forward(self, x: Tensor, condition: Tensor) -> Tensor:
        gain = 1 + self.gain(condition)[:, :, None, None]
        return self.norm(x) * gain + self.bias(condition)[:, :, None, None]


class BigGANGenerator(nn.Module):
    """z [N, z_dim] and labels [N] -> images [N, C, size, size] in [-1, 1]."""

    def __init__(self, size: int, channels: int, num_classes: int, width: int, z_dim: int, shared_dim: int,
                 sn: bool = True):
        super().__init__()
        if size not in PLANS:
            raise ValueError(f"the biggan generator is built for {' or '.join(map(str, PLANS))} px, not {size}")
        if z_dim % z_chunks(size):
            raise ValueError(f"z_dim {z_dim} does not split into {z_chunks(size)} equal chunks")
        plan = [m * width for m in PLANS[size]]
        self.z_dim, self.bottom, self.chunk = z_dim, 4, z_dim // z_chunks(size)
        self.shared = embedding(num_classes, shared_dim, sn=False)
        self.linear = linear(self.chunk, plan[0] * self.bottom ** 2, sn=sn)
        norm = partial(SharedConditionalBatchNorm2d, condition_dim=shared_dim + self.chunk, sn=sn)
        self.blocks = nn.ModuleList(ResidualUpBlock(a, b, norm, sn) for a, b in zip(plan, plan[1:]))
        self.attention_after = ATTENTION_AFTER[size]
        self.attention = SelfAttention(plan[self.attention_after], sn)
        self.output_norm = nn.BatchNorm2d(plan[-1], eps=BN_EPS)
        self.to_image = conv(plan[-1], channels, 3, padding=1, sn=sn)

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        first, *rest = z.split(self.chunk, dim=1)
        shared = self.shared(labels)
        h = self.linear(first).view(len(z), -1, self.bottom, self.bottom)
        for index, (block, chunk) in enumerate(zip(self.blocks, rest), start=1):
            h = block(h, torch.cat([shared, chunk], dim=1))
            if index == self.attention_after:
                h = self.attention(h)
        return torch.tanh(self.to_image(F.relu(self.output_norm(h))))
