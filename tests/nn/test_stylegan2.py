"""StyleGAN2-style building blocks and SinCUT's generator / discriminator."""

import math

import pytest
import torch

from pairless.errors import PairlessError
from pairless.nn.stylegan2 import (
    Blur,
    DemodulatedUpConv,
    EqualConv2d,
    NoiseInjection,
    ResBlock,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    conv_layer,
)


def test_equalised_conv_keeps_unit_variance_of_unit_inputs():
    torch.manual_seed(0)
    conv = EqualConv2d(64, 64, 3, padding=1)
    out = conv(torch.randn(4, 64, 16, 16))[..., 1:-1, 1:-1]
    assert 0.85 < out.std().item() < 1.15


def test_blur_keeps_a_constant_image_constant_away_from_the_border():
    out = Blur(2, (2, 1))(torch.full((1, 2, 10, 10), 3.0))
    assert out.shape[-2:] == (10, 10)
    assert torch.allclose(out[..., 3:-3, 3:-3], torch.full_like(out[..., 3:-3, 3:-3], 3.0))


@pytest.mark.parametrize("kernel", [1, 3])
def test_downsampling_conv_layer_halves_the_size(kernel):
    assert conv_layer(3, 5, kernel, downsample=True)(torch.randn(2, 3, 12, 20)).shape == (2, 5, 6, 10)


def test_demodulated_up_conv_doubles_the_size_and_ignores_the_weight_scale():
    torch.manual_seed(0)
    up = DemodulatedUpConv(4, 6)
    x = torch.randn(1, 4, 7, 5)
    out = up(x)
    assert out.shape == (1, 6, 14, 10)
    with torch.no_grad():
        up.weight.mul_(5.0)
    assert torch.allclose(up(x), out, atol=1e-5)


def test_residual_block_averages_residual_and_identity_skip():
    block = ResBlock(4, 4, downsample=False)
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        for module in (block.conv1, block.conv2):
            module[0].weight.zero_()
    assert torch.allclose(block(x), x / math.sqrt(2))
    assert ResBlock(4, 8, downsample=True)(x).shape == (2, 8, 4, 4)


def test_noise_is_injected_only_while_training():
    noise = NoiseInjection()
    x = torch.zeros(2, 3, 4, 4)
    assert torch.equal(noise(x), x)  # strength starts at 0
    with torch.no_grad():
        noise.weight.fill_(1.0)
    first, second = noise(x), noise(x)
    assert not torch.equal(first, second) and first[:, 0].std() > 0.5
    assert torch.equal(first[:, 0], first[:, 2])  # one noise image shared by the channels
    assert torch.equal(noise.eval()(x), x)


def test_generator_widths_match_the_reference_at_its_defaults():
    G = StyleGAN2Generator()  # ngf 10, one downsampling, 6 blocks: 80 channels at 64 px, 160 at 32 px
    assert G.layer_channels == [3, 80, 160, 160, 160, 160] and G.encoder_end == 6
    assert G.feature_channels((0, 2, 4)) == [3, 160, 160]
    D = StyleGAN2Discriminator()  # ndf 8: 32 channels at 64 px, capped at 384 from 8 px on
    assert D.body[0][0].weight.shape[0] == 32 and D.head[1].weight.shape == (384, 384 * 16)


def test_generator_translates_any_even_size_and_exposes_encoder_features():
    torch.manual_seed(0)
    G = StyleGAN2Generator(3, 1, width=1, n_downsampling=2, n_blocks=4).eval()
    x = torch.randn(2, 3, 48, 40)
    image, features = G(x, (0, 1, 3))
    assert image.shape == (2, 1, 48, 40) and torch.equal(G(x), image)
    assert [f.shape[1:] for f in features] == [(3, 48, 40), (8, 48, 40), (32, 12, 10)]
    assert torch.equal(features[0], x)
    encoded = G(x, (0, 1, 3), encode_only=True)
    assert all(torch.equal(a, b) for a, b in zip(encoded, features, strict=True))
    assert [f.shape[1] for f in features] == G.feature_channels((0, 1, 3))


def test_discriminator_gives_one_logit_per_image_and_names_the_option_on_a_wrong_size():
    D = StyleGAN2Discriminator(3, width=2, n_blocks=3)
    assert D(torch.randn(5, 3, 32, 32)).shape == (5, 1)
    assert [f.shape[1:] for f in D.features(torch.randn(5, 3, 32, 32))] == [
        (8, 32, 32), (16, 16, 16), (32, 8, 8), (64, 4, 4), (64, 4, 4)]
    with pytest.raises(PairlessError, match="--d-blocks"):
        D(torch.randn(1, 3, 64, 64))
