import pytest
import torch

from pairless.nn.patch_sampler import PatchSampleMLP
from pairless.nn.patchgan import PatchDiscriminator
from pairless.nn.resnet_generator import ResnetGenerator


@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("shape", [(32, 32), (36, 52), (20, 44)])
def test_generator_keeps_size_for_multiples_of_four(antialias, shape):
    g = ResnetGenerator(3, 1, width=4, n_blocks=2, antialias=antialias, antialias_up=antialias)
    y = g(torch.randn(2, 3, *shape))
    assert y.shape == (2, 1, *shape)
    assert y.abs().max() <= 1


def test_cut_layer_indices_follow_the_reference_layout():
    g = ResnetGenerator(3, 3, width=4, n_blocks=9)
    names = [type(g.layers[i]).__name__ for i in (0, 4, 8, 12, 16)]
    assert names == ["ReflectionPad", "Conv2d", "Conv2d", "ResnetBlock", "ResnetBlock"]
    assert isinstance(g.layers[0], torch.nn.ReflectionPad2d)
    assert g.encoder_end == 12 + 9


def test_features_come_from_the_same_pass_and_encode_only_agrees():
    torch.manual_seed(0)
    g = ResnetGenerator(3, 3, width=4, n_blocks=5)
    x = torch.randn(1, 3, 32, 32)
    out, feats = g(x, (0, 4, 8, 12, 16))
    assert torch.allclose(out, g(x))
    only = g(x, (0, 4, 8, 12, 16), encode_only=True)
    assert len(only) == 5 and all(torch.equal(a, b) for a, b in zip(feats, only, strict=True))
    assert torch.equal(feats[0][..., 3:-3, 3:-3], x)  # layer 0 is the reflect-padded input
    assert [f.shape[1] for f in feats] == g.feature_channels((0, 4, 8, 12, 16)) == [3, 8, 16, 16, 16]
    assert [f.shape[-1] for f in feats] == [38, 32, 16, 8, 8]


@pytest.mark.parametrize("antialias", [False, True])
def test_patchgan_70px_map_size(antialias):
    d = PatchDiscriminator(3, width=4, n_layers=3, antialias=antialias)
    y = d(torch.randn(1, 3, 256, 256))
    assert y.shape[:2] == (1, 1)
    assert y.shape[-2:] == (30, 30)


def test_patchgan_odd_and_gray_inputs():
    d = PatchDiscriminator(1, width=4, n_layers=2)
    assert d(torch.randn(2, 1, 33, 47)).shape[0] == 2


def test_patch_sampler_shares_positions_and_normalises():
    torch.manual_seed(0)
    head = PatchSampleMLP([3, 8], dim=16)
    feats = [torch.randn(2, 3, 10, 10), torch.randn(2, 8, 5, 5)]
    samples, ids = head(feats, num_patches=7)
    assert [s.shape for s in samples] == [(14, 16), (14, 16)]
    assert torch.allclose(samples[0].norm(dim=1), torch.ones(14))
    again, ids2 = head(feats, num_patches=7, patch_ids=ids)
    assert all(torch.equal(a, b) for a, b in zip(ids, ids2, strict=True))
    assert all(torch.allclose(a, b) for a, b in zip(samples, again, strict=True))
    all_positions, _ = PatchSampleMLP([8], dim=16)([feats[1]], num_patches=1000)
    assert all_positions[0].shape == (2 * 25, 16)
