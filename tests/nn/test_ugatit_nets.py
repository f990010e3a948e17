"""U-GAT-IT networks: CAM logits and heat-map shapes, the CAM formula, the γ/β MLP variants, spectral norm
and the discriminators' smallest input."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from pairless.nn.ugatit import (
    ChannelAttention,
    GammaBetaMLP,
    UGATITDiscriminator,
    UGATITGenerator,
    heatmap_image,
    min_discriminator_input,
)


@pytest.mark.parametrize("grid", [1, 4])
def test_generator_outputs_image_cam_logits_and_heatmap(grid):
    torch.manual_seed(0)
    net = UGATITGenerator(3, 1, width=4, n_blocks=2, mlp_grid=grid)
    out = net(torch.rand(2, 3, 16, 24) * 2 - 1)
    assert out.output.shape == (2, 1, 16, 24) and out.output.abs().max() <= 1
    assert out.cam_logits.shape == (2, 2)
    assert out.heatmap.shape == (2, 1, 4, 6)


@pytest.mark.parametrize("layers, downsampled", [(5, 8), (6, 16)])
def test_discriminator_outputs_patch_logits_cam_logits_and_heatmap(layers, downsampled):
    net = UGATITDiscriminator(3, width=4, n_layers=layers)
    out = net(torch.rand(2, 3, 64, 64))
    side = 64 // downsampled  # the stride-1 conv and the head each shrink the map by one pixel
    assert out.output.shape == (2, 1, side - 2, side - 2)
    assert out.cam_logits.shape == (2, 2)
    assert out.heatmap.shape == (2, 1, side - 1, side - 1)


@pytest.mark.parametrize("bias", [True, False])
def test_cam_logits_are_the_classifier_on_pooled_features_and_weight_the_channels(bias):
    """TensorFlow code (bias): logit = pooled . w + b and channel weights w + b; PyTorch code: no b."""
    torch.manual_seed(0)
    cam = ChannelAttention(6, nn.ReLU(), bias=bias)
    if bias:
        nn.init.constant_(cam.classifiers[0].bias, 0.3)
    x = torch.randn(3, 6, 5, 5)
    features, logits, heatmap = cam(x)
    w, b = cam.classifiers[0].weight[0], (0.3 if bias else 0.0)
    assert (cam.classifiers[0].bias is not None) == bias
    assert torch.allclose(logits[:, 0], x.mean((2, 3)) @ w + b, atol=1e-6)
    assert torch.allclose(logits[:, 1], x.amax((2, 3)) @ w + b, atol=1e-6)
    attended = x * (w + b).view(1, 6, 1, 1)
    assert torch.allclose(features, F.relu(cam.fuse(torch.cat([attended, attended], 1))), atol=1e-6)
    assert torch.allclose(heatmap, features.sum(1, keepdim=True))


@pytest.mark.parametrize("raw", [True, False])
def test_spectrally_normalised_cam_weights_the_channels_as_its_reference_does(raw):
    """Under spectral norm the logits use the normalised weight; the channels are weighted by it too
    (TensorFlow code) or by the stored, unnormalised weight (`raw_weights`: the PyTorch port)."""
    torch.manual_seed(0)
    cam = ChannelAttention(6, nn.ReLU(), shared_classifier=False, bias=False, raw_weights=raw)
    for classifier in cam.classifiers:
        spectral_norm(classifier)
    cam.eval()
    x = torch.randn(2, 6, 4, 4)
    with torch.no_grad():
        features, logits, _ = cam(x)
        normalised = [c.weight[0] for c in cam.classifiers]
        stored = [c.parametrizations.weight.original[0] for c in cam.classifiers]
        assert not torch.allclose(normalised[0], stored[0], atol=1e-3)
        assert torch.allclose(logits, torch.stack([x.mean((2, 3)) @ normalised[0], x.amax((2, 3)) @ normalised[1]], 1),
                              atol=1e-6)
        weights = stored if raw else normalised
        attended = torch.cat([x * weights[0].view(1, 6, 1, 1), x * weights[1].view(1, 6, 1, 1)], 1)
        assert torch.allclose(features, F.relu(cam.fuse(attended)), atol=1e-6)


def test_separate_classifiers_give_each_pooling_its_own_weights():
    assert len(ChannelAttention(6, nn.ReLU()).classifiers) == 1
    cam = ChannelAttention(6, nn.ReLU(), shared_classifier=False, bias=False)
    assert len(cam.classifiers) == 2
    x = torch.randn(2, 6, 3, 3)
    _, logits, _ = cam(x)
    assert torch.allclose(logits[:, 1], x.amax((2, 3)) @ cam.classifiers[1].weight[0], atol=1e-6)


def test_light_mlp_sees_the_global_average_and_full_mlp_the_whole_map():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8, 8)
    light = GammaBetaMLP(4, grid=1)
    hidden = light.mlp(x.mean((2, 3)))
    gamma, beta = light(x)
    assert torch.allclose(gamma, light.gamma(hidden), atol=1e-6) and torch.allclose(beta, light.beta(hidden))
    full = GammaBetaMLP(4, grid=8)
    assert full.mlp[0].in_features == 8 * 8 * 4
    assert torch.allclose(full(x)[0], full.gamma(full.mlp(x.flatten(1))), atol=1e-6)
    assert full(torch.randn(1, 4, 5, 11))[0].shape == (1, 4)  # other sizes are pooled to the grid


def test_discriminator_layers_are_spectrally_normalised():
    net = UGATITDiscriminator(3, width=4, n_layers=5)
    with torch.no_grad():
        for _ in range(30):  # power iterations run in training-mode forward passes
            net(torch.rand(1, 3, 32, 32))
    net.eval()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m is not net.cam.fuse]
    assert len(convs) == 5
    with torch.no_grad():
        for conv in convs:
            assert float(torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2)) == pytest.approx(1.0, abs=0.05)
            assert float(torch.linalg.matrix_norm(conv.parametrizations.weight.original.flatten(1), ord=2)) != \
                pytest.approx(1.0, abs=0.05)
        assert float(torch.linalg.vector_norm(net.cam.classifiers[0].weight)) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("layers", [4, 5, 6])
def test_smallest_discriminator_input(layers):
    side = min_discriminator_input(layers)
    net = UGATITDiscriminator(3, width=2, n_layers=layers)
    assert net(torch.rand(1, 3, side, side)).output.shape[-1] >= 1
    with pytest.raises(RuntimeError):
        net(torch.rand(1, 3, side - 1, side - 1))


def test_heatmap_image_is_normalised_per_image_and_enlarged():
    heat = torch.stack([torch.arange(4.0).view(1, 2, 2), 10 * torch.arange(4.0).view(1, 2, 2)])
    image = heatmap_image(heat, (8, 8))
    assert image.shape == (2, 1, 8, 8)
    for i in range(2):
        assert image[i].min() == 0 and image[i].max() == 1
    assert torch.equal(heatmap_image(torch.ones(1, 1, 2, 2), (4, 4)), torch.zeros(1, 1, 4, 4))


@pytest.mark.parametrize("bias", [True, False])
def test_gamma_beta_mlp_biases_follow_the_reference_code(bias):
    """TensorFlow: the two hidden layers and the γ, β heads all have biases; PyTorch: none of them."""
    mlp = GammaBetaMLP(4, grid=1, bias=bias)
    linears = [m for m in mlp.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 4 and all((m.bias is not None) == bias for m in linears)


def test_tensorflow_discriminator_starts_from_normal_002_with_an_output_bias():
    torch.manual_seed(0)
    tf = UGATITDiscriminator(3, width=16, n_layers=5)
    torch_default = UGATITDiscriminator(3, width=16, n_layers=5, tf_biases=False, init_std=None)
    for net in (tf, torch_default):
        assert net.head[1].parametrizations.weight.original.shape == (1, 128, 4, 4)
    raw = [m.parametrizations.weight.original for m in tf.features if isinstance(m, nn.Conv2d)]
    assert all(float(w.detach().std()) == pytest.approx(0.02, rel=0.15) for w in raw)
    assert torch.equal(tf.head[1].bias, torch.zeros(1)) and tf.cam.classifiers[0].bias is not None
    first = torch_default.features[1].parametrizations.weight.original
    assert float(first.detach().std()) == pytest.approx((1 / 48) ** 0.5 / 3 ** 0.5, rel=0.15)  # torch's kaiming-uniform
    assert torch_default.head[1].bias is None and torch_default.cam.classifiers[0].bias is None
