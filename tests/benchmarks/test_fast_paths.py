"""The op-saving forms of layers and losses give what the plain forms give (issue 14)."""

import torch
import torch.nn.functional as F
from torch import nn

from pairless.nn.resnet_generator import InstanceNorm


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
