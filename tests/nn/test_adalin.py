"""AdaLIN and ILN against a direct computation of their formulas, and their limits ρ = 1 / ρ = 0."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from pairless.nn.adalin import ILN, AdaLIN, clip_mixing_ratios, instance_layer_mix
from pairless.tiling import ChannelMoments

EPS = 1e-5


def direct_mix(x, rho, unbiased=False):
    """ρ·IN + (1 − ρ)·LN written out with means and population (or unbiased: n − 1) variances."""
    def variance(dims):
        centred = x - x.mean(dim=dims, keepdim=True)
        count = math.prod(x.shape[d] for d in dims)
        return (centred ** 2).sum(dim=dims, keepdim=True) / (count - 1 if unbiased else count)

    in_mean, in_var = x.mean(dim=(2, 3), keepdim=True), variance((2, 3))
    ln_mean, ln_var = x.mean(dim=(1, 2, 3), keepdim=True), variance((1, 2, 3))
    instance = (x - in_mean) / torch.sqrt(in_var + EPS)
    layer = (x - ln_mean) / torch.sqrt(ln_var + EPS)
    return rho * instance + (1 - rho) * layer


def sample(shape=(2, 5, 6, 7)):
    torch.manual_seed(0)
    # Channels with different offsets and scales, so that IN and LN really differ.
    return torch.randn(shape) * torch.linspace(0.5, 3, shape[1]).view(1, -1, 1, 1) + torch.arange(shape[1]).view(
        1, -1, 1, 1)


def test_adalin_matches_the_formula():
    x = sample()
    norm = AdaLIN(5)
    with torch.no_grad():
        norm.rho.copy_(torch.rand(1, 5, 1, 1))
    gamma, beta = torch.randn(2, 5), torch.randn(2, 5)
    expected = direct_mix(x, norm.rho) * gamma[:, :, None, None] + beta[:, :, None, None]
    assert torch.allclose(norm(x, gamma, beta), expected, atol=1e-5)


def test_iln_matches_the_formula_with_its_own_affine_parameters():
    x = sample()
    norm = ILN(5)
    with torch.no_grad():
        for p in (norm.rho, norm.gamma, norm.beta):
            p.copy_(torch.rand_like(p))
    expected = direct_mix(x, norm.rho) * norm.gamma + norm.beta
    assert torch.allclose(norm(x), expected, atol=1e-5)


def test_given_moments_of_a_larger_image_normalise_a_tile_of_it_as_the_whole():
    """Tiled translation hands AdaLIN / ILN the whole image's per-channel moments; a tile normalised with
    them equals the same pixels of the whole image normalised, for instance and layer norm alike."""
    x = sample((2, 5, 10, 12))
    moments = ChannelMoments(x.mean((2, 3), keepdim=True), x.var((2, 3), unbiased=False, keepdim=True), 10 * 12)
    tile = (slice(None), slice(None), slice(2, 7), slice(3, 12))
    adalin, iln = AdaLIN(5), ILN(5)
    with torch.no_grad():
        for p in (adalin.rho, iln.rho, iln.gamma, iln.beta):
            p.copy_(torch.rand_like(p))
    gamma, beta = torch.randn(2, 5), torch.randn(2, 5)
    assert torch.allclose(adalin(x[tile], gamma, beta, statistics=moments), adalin(x, gamma, beta)[tile], atol=1e-5)
    assert torch.allclose(iln(x[tile], statistics=moments), iln(x)[tile], atol=1e-5)
    assert not torch.allclose(iln(x[tile]), iln(x)[tile], atol=1e-2)


def test_unbiased_variances_as_the_pytorch_port_takes_them():
    """UGATIT-pytorch's AdaLIN / ILN divide by sqrt(torch.var(...) + eps), torch.var being unbiased."""
    x = sample()
    adalin, iln = AdaLIN(5, unbiased=True), ILN(5, unbiased=True)
    with torch.no_grad():
        for p in (adalin.rho, iln.rho, iln.gamma, iln.beta):
            p.copy_(torch.rand_like(p))
    gamma, beta = torch.randn(2, 5), torch.randn(2, 5)
    expected = direct_mix(x, adalin.rho, unbiased=True) * gamma[:, :, None, None] + beta[:, :, None, None]
    assert torch.allclose(adalin(x, gamma, beta), expected, atol=1e-5)
    assert torch.allclose(iln(x), direct_mix(x, iln.rho, unbiased=True) * iln.gamma + iln.beta, atol=1e-5)
    assert not torch.allclose(iln(x), direct_mix(x, iln.rho) * iln.gamma + iln.beta, atol=1e-3)


def test_a_tile_normalises_as_the_whole_image_with_unbiased_variances_too():
    x = sample((2, 5, 10, 12))
    moments = ChannelMoments(x.mean((2, 3), keepdim=True), x.var((2, 3), unbiased=False, keepdim=True), 10 * 12)
    tile = (slice(None), slice(None), slice(1, 6), slice(4, 11))
    iln = ILN(5, unbiased=True)
    with torch.no_grad():
        iln.rho.copy_(torch.rand_like(iln.rho))
    assert torch.allclose(iln(x[tile], statistics=moments), iln(x)[tile], atol=1e-5)


def test_rho_one_is_instance_norm_and_rho_zero_is_layer_norm():
    x = sample()
    instance = nn.InstanceNorm2d(5, affine=False)(x)
    layer = nn.LayerNorm(x.shape[1:], elementwise_affine=False)(x)
    assert not torch.allclose(instance, layer, atol=1e-2)
    assert torch.allclose(instance_layer_mix(x, torch.ones(1, 5, 1, 1)), instance, atol=1e-5)
    assert torch.allclose(instance_layer_mix(x, torch.zeros(1, 5, 1, 1)), layer, atol=1e-5)
    ones, zeros = torch.ones(2, 5), torch.zeros(2, 5)
    adalin = AdaLIN(5)
    with torch.no_grad():
        adalin.rho.fill_(1.0)
    assert torch.allclose(adalin(x, ones, zeros), instance, atol=1e-5)


def test_initial_ratios_follow_the_reference():
    assert torch.all(AdaLIN(3).rho == 0.9)
    iln = ILN(3)
    assert torch.all(iln.rho == 0) and torch.all(iln.gamma == 1) and torch.all(iln.beta == 0)
    assert torch.allclose(iln(sample((1, 3, 4, 4))), F.layer_norm(sample((1, 3, 4, 4)), (3, 4, 4)), atol=1e-5)


def test_clipping_reaches_every_mixing_ratio_inside_a_module():
    net = nn.Sequential(ILN(3), nn.ModuleList([AdaLIN(3)]))
    with torch.no_grad():
        net[0].rho.copy_(torch.tensor([-0.5, 0.3, 1.7]).view(1, 3, 1, 1))
        net[1][0].rho.copy_(torch.tensor([2.0, -1.0, 0.5]).view(1, 3, 1, 1))
    clip_mixing_ratios(net)
    assert net[0].rho.flatten().tolist() == [0.0, 0.30000001192092896, 1.0]
    assert net[1][0].rho.flatten().tolist() == [1.0, 0.0, 0.5]
