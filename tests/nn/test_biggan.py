"""BigGAN generator pieces: self-attention, the hierarchical-z conditional batch norm, the generator."""

import pytest
import torch
from torch import nn

from pairless.nn.biggan import BigGANGenerator, SharedConditionalBatchNorm2d
from pairless.nn.gan_layers import SelfAttention


def test_self_attention_starts_as_the_identity_and_mixes_positions_once_gated():
    torch.manual_seed(0)
    attention = SelfAttention(16, sn=False)
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(attention(x), x)
    with torch.no_grad():
        attention.gate.fill_(1.0)
    y = attention(x)
    changed = x.clone()
    changed[0, :, 0, 0] += 5.0  # one position of image 0
    z = attention(changed)
    assert not torch.allclose(z[0, :, 7, 7], y[0, :, 7, 7])  # a far position sees it
    assert torch.allclose(z[1], y[1])  # the other image does not


def test_shared_conditional_batch_norm_is_one_plus_a_linear_gain_of_the_condition():
    torch.manual_seed(0)
    norm = SharedConditionalBatchNorm2d(6, condition_dim=5, sn=False)
    x, condition = torch.randn(4, 6, 3, 3), torch.randn(4, 5)
    expected = nn.functional.batch_norm(x, None, None, training=True, eps=1e-4)
    gain = 1 + condition @ norm.gain.weight.T
    expected = expected * gain[:, :, None, None] + (condition @ norm.bias.weight.T)[:, :, None, None]
    assert torch.allclose(norm(x, condition), expected, atol=1e-5)


@pytest.mark.parametrize("size, z_dim", [(32, 16), (64, 20)])
def test_every_chunk_of_z_and_the_class_shape_the_image(size, z_dim):
    torch.manual_seed(0)
    g = BigGANGenerator(size, 3, num_classes=4, width=4, z_dim=z_dim, shared_dim=8).eval()
    z, labels = torch.randn(1, z_dim), torch.tensor([2])
    with torch.no_grad():
        base = g(z, labels)
        assert base.shape == (1, 3, size, size) and base.abs().max() <= 1
        chunk = g.chunk
        for start in range(0, z_dim, chunk):  # the input map's chunk and each block's own chunk
            moved = z.clone()
            moved[:, start:start + chunk] += 1.0
            assert not torch.allclose(g(moved, labels), base)
        assert not torch.allclose(g(z, torch.tensor([0])), base)
