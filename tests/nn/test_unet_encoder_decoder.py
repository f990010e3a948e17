"""Shapes and skip connections of the U-Net, and the DCGAN-era encoder/decoder blocks."""

import torch

from pairless.nn.encoder_decoder import ConvDecoder, ConvEncoder, EncoderDecoderGenerator
from pairless.nn.unet import UnetGenerator


def test_unet_keeps_size_and_reaches_one_pixel_at_the_bottom():
    net = UnetGenerator(3, 1, width=4, depth=5).eval()
    x = torch.randn(2, 3, 32, 32)
    assert net(x).shape == (2, 1, 32, 32)
    bottom = x
    for down in net.downs:
        bottom = down(bottom)
    assert bottom.shape[-2:] == (1, 1)


def test_unet_skip_connection_carries_fine_detail():
    """Changing one input pixel changes the output near it even though the bottleneck is 1x1."""
    torch.manual_seed(0)
    net = UnetGenerator(3, 3, width=4, depth=5, dropout=False).eval()
    x = torch.randn(1, 3, 32, 32)
    y = x.clone()
    y[..., 10, 10] += 5
    diff = (net(x) - net(y)).abs().sum(1)[0]
    assert diff[10, 10] > 0 and diff[30, 30] < diff[10, 10]


def test_encoder_decoder_shapes():
    enc = ConvEncoder(3, [4, 8, 16], kernel=3, first_norm=True, last_activation="tanh")
    code = enc(torch.randn(2, 3, 32, 32))
    assert code.shape == (2, 16, 4, 4) and code.abs().max() <= 1
    assert ConvDecoder(16, [8, 4], 1)(code).shape == (2, 1, 32, 32)
    assert EncoderDecoderGenerator(3, 3, width=4)(torch.randn(2, 3, 64, 64)).shape == (2, 3, 64, 64)
