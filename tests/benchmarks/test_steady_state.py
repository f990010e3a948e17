"""A steady-state training iteration of every translator, as the trainer runs it outside log steps (issue 14):
it reads nothing from the device (no `.item()`, `bool(tensor)` or data-dependent shapes), and each optimiser
step is one fused kernel (Adam) or a few multi-tensor ops (RMSprop). Counted, not timed."""

import pytest

from pairless.checkpoint import build_model
from pairless.config import RunConfig
from tests.conftest import TINY_MODEL, tiny_config
from tests.models.test_sincut import TINY_SINCUT

TRANSLATORS = {**{method: {} for method in TINY_MODEL}, "sincut": TINY_SINCUT}
QUIET = {"train.steps": 100, "train.log_every": 100, "train.sample_every": 100, "train.save_every": 100}
OPS_PER_STEP = {"adam": 2, "rmsprop": 7}
"""Fused Adam: the step counts and the update. Multi-tensor RMSprop on CPU: 7 ops (6 on CUDA)."""


def steady_state(method: str) -> dict:
    """Image pools of one image, full after the warm-up iterations, so that their random swaps run; DTN's
    encoder pre-training over before them."""
    model = RunConfig.defaults(method).model
    return ({"model.pool_size": 1} if hasattr(model, "pool_size") else {}) | \
        ({"model.pretrain_steps": 1} if hasattr(model, "pretrain_steps") else {})


@pytest.mark.parametrize("method", sorted(TRANSLATORS))
def test_a_steady_state_iteration_has_no_host_sync_and_fused_optimiser_steps(cost, method, tmp_path):
    cfg = tiny_config(method, tmp_path, **{**TRANSLATORS[method], **QUIET, **steady_state(method)})
    result = cost.measure(cfg, flops=False, saved=False, cuda_optimizer=False)
    assert sum(result.model_ops.values()) > 100  # the counter saw the iteration
    assert not result.syncs, f"{method}: {dict(result.syncs)}"
    kinds = {group.kind for group in build_model(cfg).optimizer_groups()}
    assert result.optimizer_steps >= 2
    assert sum(result.optimizer_ops.values()) <= max(OPS_PER_STEP[k] for k in kinds) * result.optimizer_steps, \
        dict(result.optimizer_ops)
