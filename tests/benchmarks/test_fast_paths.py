"""The op-saving forms of layers and losses give what the plain forms give (issue 14)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pairless.checkpoint import build_model
from pairless.losses.adversarial import discriminator_loss, generator_loss
from pairless.losses.patchnce import grouped_patch_nce_loss, multilayer_patch_nce_loss, patch_nce_loss, patch_nce_terms
from pairless.models.base import scores_of_real_and_fake
from pairless.models.contrastive import PatchNCEOptions, sampled_patch_nce
from pairless.nn.antialias import BlurUpsample
from pairless.nn.padding import ReflectionPad
from pairless.nn.patch_sampler import PatchSampleMLP
from pairless.nn.patchgan import PatchDiscriminator
from pairless.nn.resnet_generator import InstanceNorm, ResnetBlock
from tests.conftest import tiny_config


def test_instance_norm_as_group_norm_matches_torchs_instance_norm_with_inplace_relu():
    torch.manual_seed(0)
    x = torch.randn(3, 5, 7, 6, dtype=torch.float64) * 3 + 1
    grad = torch.randn_like(x)
    results = []
    for norm in (InstanceNorm(5), nn.InstanceNorm2d(5)):
        inputs = x.clone().requires_grad_()
        out = F.relu(norm(inputs), inplace=True)
        out.backward(grad)
        results.append((out.detach(), inputs.grad))
    (ours, our_grad), (plain, plain_grad) = results
    torch.testing.assert_close(ours, plain, rtol=0, atol=1e-12)
    torch.testing.assert_close(our_grad, plain_grad, rtol=0, atol=1e-12)


def test_instance_norm_is_one_op_forward_and_one_backward(cost):
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    with cost.counting(flops=False, saved=False) as counted:
        F.relu(InstanceNorm(4)(x), inplace=True).sum().backward()
    assert counted.model_ops["native_group_norm"] == 1
    assert counted.model_ops["native_group_norm_backward"] == 1
    assert not {"copy_", "clone", "new_empty_strided", "empty"} & set(counted.model_ops)


def per_layer_reference(head, features, ids):
    """The unbatched head: each layer's patches at its ids through its own MLP, as separate ops."""
    out = []
    for feature, mlp, layer_ids in zip(features, head.mlps, ids, strict=True):
        flat = feature.permute(0, 2, 3, 1).reshape(feature.shape[0], -1, feature.shape[1])
        out.append(F.normalize(mlp(flat[:, layer_ids[0], :].reshape(-1, feature.shape[1])), dim=1))
    return out


def test_batched_patch_head_and_loss_match_the_per_layer_loop_with_gradients():
    torch.manual_seed(3)
    head = PatchSampleMLP([3, 8, 8, 8], dim=16)
    features = [torch.randn(2, 3, 6, 6), torch.randn(2, 8, 6, 6), torch.randn(2, 8, 3, 3), torch.randn(2, 8, 4, 4)]
    queries = [f.clone().requires_grad_() for f in features]
    grouped, ids = head.project(queries, num_patches=12)
    assert sorted(g.layers for g in grouped) == [[0, 1, 3], [2]]  # 12 positions, 9 in the 3x3 layer
    keys = [g.samples.detach() for g in head.project(features, 12, ids)[0]]
    batched = grouped_patch_nce_loss([g.samples for g in grouped], keys, 2)
    batched_grads = torch.autograd.grad(batched, [*queries, *head.parameters()])

    reference_q = per_layer_reference(head, queries, ids)
    reference_k = per_layer_reference(head, features, ids)
    looped = multilayer_patch_nce_loss(reference_q, reference_k, 2)
    looped_grads = torch.autograd.grad(looped, [*queries, *head.parameters()])
    torch.testing.assert_close(batched, looped, rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(batched_grads, looped_grads, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)


def test_parts_score_like_separate_calls_drawing_the_same_positions():
    torch.manual_seed(4)
    head = PatchSampleMLP([4, 4], dim=8)
    features = [torch.randn(4, 4, 5, 5), torch.randn(4, 4, 5, 5)]
    keys = [torch.randn(4, 4, 5, 5), torch.randn(4, 4, 5, 5)]
    options = PatchNCEOptions(nce_layers=(0, 1), num_patches=7, head_dim=8)
    torch.manual_seed(5)
    both = sampled_patch_nce(features, keys, head, head, options, parts=2).loss
    torch.manual_seed(5)
    first = sampled_patch_nce([f[:2] for f in features], [k[:2] for k in keys], head, head, options).loss
    second = sampled_patch_nce([f[2:] for f in features], [k[2:] for k in keys], head, head, options).loss
    torch.testing.assert_close(both, torch.stack([first, second]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("negatives", ["image", "batch"])
def test_stacked_layers_score_as_each_layer_alone(negatives):
    torch.manual_seed(6)
    query = F.normalize(torch.randn(3, 2 * 5, 8), dim=2)
    key = F.normalize(torch.randn(3, 2 * 5, 8), dim=2)
    terms = patch_nce_terms(query, key, 2, 0.07, negatives)
    for layer in range(3):
        expected = patch_nce_loss(query[layer], key[layer], 2, 0.07, negatives)
        torch.testing.assert_close(terms[layer].mean(), expected, rtol=1e-6, atol=1e-7)


def test_one_discriminator_pass_over_real_and_fake_scores_as_two():
    torch.manual_seed(7)
    d = PatchDiscriminator(3, width=8, n_layers=2, antialias=True)
    real, fake = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    batched = scores_of_real_and_fake(d, real, fake)
    torch.testing.assert_close(batched[0], d(real), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(batched[1], d(fake), rtol=1e-5, atol=1e-6)


def test_cut_scores_nce_and_its_identity_term_in_one_pass_as_in_two(tmp_path):
    cfg = tiny_config("cut", tmp_path).resolved()
    model = build_model(cfg)
    torch.manual_seed(8)
    real_a, real_b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    output, features = model.G(torch.cat([real_a, real_b]), cfg.model.nce_layers)
    torch.manual_seed(9)
    batched = model.nce_losses(real_a, output, features, flipped=False)
    torch.manual_seed(9)
    separate = (model.patch_nce(output[:2], [f[:2] for f in features], False),
                model.patch_nce(output[2:], [f[2:] for f in features], False))
    torch.testing.assert_close(torch.stack(batched), torch.stack(separate), rtol=1e-5, atol=1e-6)


def test_cyclegan_batches_each_generators_passes_and_trains(tmp_path):
    cfg = tiny_config("cyclegan", tmp_path).resolved()
    model = build_model(cfg)
    calls = {"G_AB": [], "G_BA": []}
    for name in calls:
        getattr(model, name).register_forward_hook(lambda m, args, out, name=name: calls[name].append(args[0].shape[0]))
    batch = {"A": torch.rand(2, 3, 32, 32) * 2 - 1, "B": torch.rand(2, 3, 32, 32) * 2 - 1}

    class Steps:
        def step(self, loss, *groups):
            assert torch.isfinite(loss)

    model.train_step(batch, Steps())
    assert calls == {"G_AB": [4, 2], "G_BA": [6]}  # a+b, then fake_a; b+a+fake_b


def test_lsgan_losses_as_mse_match_the_spelled_out_formula_and_gradient():
    torch.manual_seed(10)
    real, fake = torch.randn(2, 1, 6, 6, requires_grad=True), torch.randn(2, 1, 6, 6, requires_grad=True)
    ours = discriminator_loss("lsgan", real, fake) + generator_loss("lsgan", fake)
    spelled = (real - 1).pow(2).mean() + fake.pow(2).mean() + (fake - 1).pow(2).mean()
    torch.testing.assert_close(ours, spelled)
    for a, b in zip(torch.autograd.grad(ours, [real, fake]), torch.autograd.grad(spelled, [real, fake]), strict=True):
        torch.testing.assert_close(a, b)


def test_shape_only_reflection_pad_matches_torchs_and_saves_nothing():
    torch.manual_seed(11)
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        ours = ReflectionPad((1, 2, 3, 1))(x)
    assert not saved
    plain = nn.ReflectionPad2d((1, 2, 3, 1))(x)
    grad = torch.randn_like(plain)
    torch.testing.assert_close(ours, plain, rtol=0, atol=0)
    torch.testing.assert_close(torch.autograd.grad(ours, x, grad)[0], torch.autograd.grad(plain, x, grad)[0])
    assert torch.autograd.gradcheck(lambda t: ReflectionPad(2)(t), (x,))


def test_resnet_block_with_relu_after_padding_computes_the_reference_order():
    torch.manual_seed(12)
    block = ResnetBlock(4).double()
    pad_in, conv1, norm1, pad_mid, _, conv2, norm2 = block.body
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64, requires_grad=True)
    reference = x + norm2(conv2(F.pad(F.relu(norm1(conv1(F.pad(x, (1,) * 4, mode="reflect")))), (1,) * 4,
                                      mode="reflect")))
    ours = block(x)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-12)
    grad = torch.randn_like(ours)
    torch.testing.assert_close(torch.autograd.grad(ours, x, grad)[0], torch.autograd.grad(reference, x, grad)[0])


def test_blur_upsampling_without_a_crop_is_the_cropped_full_output():
    torch.manual_seed(13)
    up = BlurUpsample(3)
    x = torch.randn(2, 3, 5, 7)
    full = F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), up.kernel, stride=2, padding=1, groups=3)
    torch.testing.assert_close(up(x), full[..., 2:2 + 10, 2:2 + 14], rtol=0, atol=1e-6)
