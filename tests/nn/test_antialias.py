import math

import pytest
import torch

from pairless.nn.antialias import BlurDownsample, BlurUpsample


def test_downsample_halves_size_and_keeps_constants():
    down = BlurDownsample(2)
    x = torch.full((1, 2, 9, 12), 0.7)
    y = down(x)
    assert y.shape == (1, 2, 5, 6)
    assert torch.allclose(y, torch.full_like(y, 0.7))


def test_upsample_doubles_size_and_interpolates_linearly():
    up = BlurUpsample(1)
    ramp = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 3, 8).contiguous()
    y = up(ramp)
    assert y.shape == (1, 1, 6, 16)
    # bilinear with half-pixel centres: interior samples are x - 0.25 and x + 0.25
    assert torch.allclose(y[0, 0, 2, 2:14], torch.arange(2, 14) / 2 - 0.25)
    assert torch.allclose(up(torch.ones(1, 1, 5, 3)), torch.ones(1, 1, 10, 6))


def test_filters_are_depthwise():
    up = BlurUpsample(3)
    x = torch.zeros(1, 3, 4, 4)
    x[0, 1] = 1.0
    y = up(x)
    assert y[0, 0].abs().sum() == 0 and y[0, 2].abs().sum() == 0



def test_upsampling_is_a_low_pass_that_halves_4_px_periods():
    """Why crops under 128 px upsample with transposed convolutions by default: textures of a 4 px period
    (e.g. the 2 px bands of the stripes task at 64 px) leave each blurred upsampling at half amplitude,
    textures of a 16 px period almost untouched."""
    def amplitude_after_upsampling(coarse_period: int) -> float:
        n = torch.arange(48.0)
        wave = torch.cos(2 * math.pi * n / coarse_period).view(1, 1, 1, 48).expand(1, 1, 4, 48).contiguous()
        out = BlurUpsample(1)(wave)[0, 0, 2, 8:-8]
        return float(out.max() - out.min()) / 2

    assert amplitude_after_upsampling(2) == pytest.approx(0.5, abs=1e-4)
    assert amplitude_after_upsampling(8) > 0.92
