"""R1 against the gradient norms of discriminators whose input gradient is known in closed form."""

import torch

from pairless.losses.r1 import r1_penalty


def test_linear_critic_penalty_is_the_squared_weight_norm_and_trains_the_weights():
    torch.manual_seed(0)
    weight = torch.randn(3, 5, 4, requires_grad=True)
    x = torch.randn(6, 3, 5, 4, requires_grad=True)
    scores = (x * weight).sum(dim=(1, 2, 3))  # D(x) = <w, x>, so grad_x D = w for every image
    penalty = r1_penalty(scores, x)
    assert torch.allclose(penalty, weight.pow(2).sum())
    (weight_grad,) = torch.autograd.grad(penalty, weight)
    assert torch.allclose(weight_grad, 2 * weight)  # d||w||^2/dw: the penalty reaches D's weights


def test_quadratic_critic_penalty_is_the_batch_mean_of_per_image_norms():
    torch.manual_seed(1)
    a = 0.7
    x = torch.randn(4, 2, 3, 3, requires_grad=True)
    scores = a * x.pow(2).sum(dim=(1, 2, 3))  # grad_x D = 2a x
    expected = torch.stack([(2 * a * image).pow(2).sum() for image in x.detach()]).mean()
    assert torch.allclose(r1_penalty(scores, x), expected)


def test_patch_outputs_are_summed_per_image():
    torch.manual_seed(2)
    conv = torch.nn.Conv2d(3, 1, 1, bias=True)
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    scores = conv(x)  # a 4x4 map per image: each pixel's gradient is the 1x1 kernel
    expected = 16 * conv.weight.detach().pow(2).sum()
    assert torch.allclose(r1_penalty(scores, x), expected)
