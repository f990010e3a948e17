"""The fast path's levers that are not the optimiser (tests/train/test_fused_optimizer.py has that one):
TF32 and cuDNN autotuning are set both ways on CUDA devices only, and the opt-in --cuda-graphs capture
computes what eager mode computes.

The capture tests compile with backends that build in seconds: dynamo's graph capture alone, and AOT
autograd's eager backend, which traces the same forward and backward graphs inductor compiles (inductor's own
C++ code generation for one tiny CUT takes minutes on this CPU).
Its updates are plain SGD so that equal gradients give equal weights: Adam's first steps move every weight
by about ±lr whatever the gradient's size, so rounding noise on a near-zero gradient can flip a weight's
step and N Adam steps cannot be compared tightly.
"""

import pytest
import torch

from pairless.checkpoint import build_model
from pairless.config import RunConfig
from pairless.devices import set_cuda_speed_options
from pairless.train import speed
from tests.conftest import TINY_MODEL

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STEPS = 3
LR = 1e-2
LOSS_TOLERANCE = 1e-5
"""Relative difference allowed between the losses of each iteration."""
WEIGHT_TOLERANCE = 1e-6
"""Largest weight difference after the steps; each step moves weights by LR x gradient, about 1e-4."""


@pytest.fixture
def restore_cuda_flags():
    saved = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    yield
    torch.set_float32_matmul_precision(saved[0])
    torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved[1:]


@pytest.mark.parametrize("on", [True, False])
def test_tf32_and_cudnn_benchmark_follow_their_switches_on_cuda(restore_cuda_flags, on):
    set_cuda_speed_options(torch.device("cuda"), tf32=not on, cudnn_benchmark=not on)
    set_cuda_speed_options(torch.device("cuda"), tf32=on, cudnn_benchmark=on)
    assert torch.get_float32_matmul_precision() == ("high" if on else "highest")
    assert torch.backends.cudnn.allow_tf32 is on
    assert torch.backends.cudnn.benchmark is on


def test_cpu_runs_leave_the_cuda_flags_alone(restore_cuda_flags):
    set_cuda_speed_options(torch.device("cuda"), tf32=False, cudnn_benchmark=False)
    set_cuda_speed_options(torch.device("cpu"), tf32=True, cudnn_benchmark=True)
    assert torch.get_float32_matmul_precision() == "highest"
    assert not torch.backends.cudnn.benchmark


class SGDUpdater:
    """The models' Updater with plain SGD, keeping every loss it was given."""

    def __init__(self, model):
        self.model, self.losses = model, []
        self.params = {g.name: [p for n in g.networks for p in getattr(model, n).parameters()]
                       for g in model.optimizer_groups()}

    def step(self, loss, *groups):
        params = [p for g in groups for p in self.params[g]]
        for p in params:
            p.grad = None
        loss.backward()
        self.losses.append(loss.item())
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p -= LR * p.grad
        for g in groups:
            self.model.after_optimizer_step(g)


def train_tiny_cut(compiled: bool) -> tuple[list[float], dict]:
    cfg = RunConfig.defaults("cut").override({"data.size": 32, **TINY_MODEL["cut"]})
    torch.manual_seed(0)
    model = build_model(cfg)
    if compiled:
        assert speed.compile_networks(model) == 3  # G, F and D
    updater = SGDUpdater(model)
    data = torch.Generator().manual_seed(1)
    for _ in range(STEPS):
        batch = {k: torch.rand(1, 3, 32, 32, generator=data) * 2 - 1 for k in ("A", "B")}
        model.train_step(batch, updater)
    return updater.losses, model.state_dict()


def compare_eager_and_compiled(monkeypatch, backend: str) -> None:
    monkeypatch.setattr(speed, "COMPILE_OPTIONS", {"backend": backend})
    (eager_losses, eager_weights), (compiled_losses, compiled_weights) = (train_tiny_cut(c) for c in (False, True))
    assert compiled_losses == pytest.approx(eager_losses, rel=LOSS_TOLERANCE)
    assert compiled_weights.keys() == eager_weights.keys()  # checkpoints stay interchangeable
    for name, value in eager_weights.items():
        assert torch.allclose(compiled_weights[name], value, rtol=0, atol=WEIGHT_TOLERANCE), name


def test_networks_captured_by_dynamo_train_as_eager_ones(monkeypatch):
    compare_eager_and_compiled(monkeypatch, "eager")


def test_networks_compiled_by_aot_autograd_train_as_eager_ones(monkeypatch):
    """AOT autograd is what inductor and CUDA graphs build on. Before issue 14 rewrote the networks' instance
    norm and reflection padding, G's gradients differed here from eager mode (which change fixed it was not
    isolated)."""
    compare_eager_and_compiled(monkeypatch, "aot_eager")
