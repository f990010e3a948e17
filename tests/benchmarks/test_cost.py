"""The cost counter of benchmarks/cost.py on programs whose ops, syncs, flops and saved bytes are known."""

import torch
from torch import nn

from tests.conftest import tiny_config


def test_a_linear_forward_is_one_addmm_and_its_flops(cost):
    layer, x = nn.Linear(4, 3), torch.rand(5, 4)
    with cost.counting() as counted:
        layer(x)
    assert counted.model_ops == {"addmm": 1}  # the weight's transpose is a view, not counted
    assert counted.flops == 2 * 5 * 4 * 3
    assert not counted.syncs and not counted.optimizer_ops


def test_views_are_not_counted_and_each_host_read_is_one_sync(cost):
    x = torch.arange(6.0)
    with cost.counting() as counted:
        x.view(2, 3).t().unsqueeze(0).expand(2, 3, 2)[0].permute(1, 0).reshape(6)
    assert sum(counted.model_ops.values()) == 0
    with cost.counting() as counted:
        x.sum().item()
        bool(x[0] > 1)
        torch.nonzero(x)
        x.repeat_interleave(torch.tensor([1, 1, 1, 1, 1, 2]))
        x.repeat_interleave(torch.tensor([1, 1, 1, 1, 1, 2]), output_size=7)
    assert counted.syncs == {"_local_scalar_dense": 2, "nonzero": 1, "repeat_interleave": 1}
    assert counted.model_ops["repeat_interleave"] == 2


def steady_state_step(cost, optimizer, weight):
    """The second of two steps (the first creates the optimiser's state)."""
    for _ in range(2):
        weight.grad = None
        with cost.counting() as counted:
            (weight * 2).sum().backward()
            optimizer.step()
    return counted


def test_optimizer_steps_are_counted_apart_and_their_reads_are_not_syncs(cost):
    weight = nn.Parameter(torch.ones(3))
    per_parameter = steady_state_step(cost, torch.optim.Adam([weight], foreach=False), weight)
    fused = steady_state_step(cost, torch.optim.Adam([weight], fused=True), weight)
    for counted in (per_parameter, fused):
        assert counted.model_ops == {"mul": 2, "sum": 1, "ones_like": 1}  # forward, seed, backward
        assert not counted.syncs
    assert per_parameter.optimizer_ops["_local_scalar_dense"] == 1  # Adam reads its step count
    assert fused.optimizer_ops == {"_foreach_add_": 1, "_fused_adam_": 1}


def test_saved_bytes_are_unique_storages_per_backward_graph(cost):
    x, w = torch.rand(1000, requires_grad=True), torch.rand(1000, requires_grad=True)
    optimizer = torch.optim.SGD([x, w], lr=0.1)
    with cost.counting() as counted:
        (x * w).sum().backward()  # mul saves x and w: 2 x 4000 bytes
        optimizer.step()
        (x * x).sum().backward()  # x twice: one storage
        optimizer.step()
        (w * 3).exp().sum()  # saves exp's 4000-byte output, never backpropagated
    assert counted.graphs == [8000, 4000]
    assert counted.unreached == 4000
    assert (counted.largest_graph, counted.saved_total) == (8000, 16000)


def test_a_translator_iteration_counts_the_same_twice(cost, tmp_path):
    cfg = tiny_config("cut", tmp_path, **{"train.steps": 100, "train.log_every": 100, "train.sample_every": 100})
    first, second = (cost.measure(cfg) for _ in range(2))
    assert first.model_ops == second.model_ops and first.optimizer_ops == second.optimizer_ops
    assert (first.flops, first.graphs) == (second.flops, second.graphs)
    assert first.flops > 0 and len(first.graphs) == 2  # the D and the G backward
    # Adam is fused on CPU and on CUDA: per step, one kernel and the step counts' increment
    assert first.optimizer_steps == 2 and first.cuda_optimizer_ops == sum(first.optimizer_ops.values()) == 4
