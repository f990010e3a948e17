"""--fused-optimizer (on by default): fused Adam, multi-tensor RMSprop. Training with it matches torch's
default implementation to rounding, and a run resumes with its own setting whichever one saved it."""

import pytest
import torch

from pairless.checkpoint import build_model
from pairless.config import RunConfig
from pairless.train.optim import Optimizers
from pairless.train_config import TrainConfig
from tests.conftest import assert_switch_keeps_training_the_same


@pytest.mark.parametrize("method", ["cut", "dualgan", "ugatit-light"])  # Adam, RMSprop, Adam + weight decay
def test_fused_and_default_optimisers_train_alike(tmp_path, unpaired_dir, method):
    assert_switch_keeps_training_the_same(method, unpaired_dir, tmp_path, "train.fused_optimizer")


def implementations(optimizers: Optimizers) -> dict[str, tuple]:
    return {name: (opt.param_groups[0].get("fused"), opt.param_groups[0]["foreach"])
            for name, opt in optimizers.groups.items()}


def test_the_switch_chooses_the_implementation_and_resumed_states_follow_it():
    model = build_model(RunConfig.defaults("cut").override({"size": 32, "width": 4, "n_blocks": 5}))
    fused, plain = (Optimizers(model, TrainConfig(fused_optimizer=on), "cpu", "fp32") for on in (True, False))
    assert implementations(fused) == {"G": (True, None), "D": (True, None)}
    assert implementations(plain) == {"G": (None, None), "D": (None, None)}
    model.G(torch.rand(1, 3, 32, 32)).mean().backward()
    fused.groups["G"].step()
    plain.load_state_dict(fused.state_dict())
    assert implementations(plain) == {"G": (None, None), "D": (None, None)}
    plain.groups["G"].step()
    fused.load_state_dict(plain.state_dict())
    assert implementations(fused) == {"G": (True, None), "D": (True, None)}
    fused.groups["G"].step()
    assert all(state["step"] == 3 for state in fused.groups["G"].state.values())


def test_rmsprop_runs_as_multi_tensor_ops():
    model = build_model(RunConfig.defaults("dualgan").override({"size": 32, "width": 4, "depth": 5}))
    optimizers = Optimizers(model, TrainConfig(), "cpu", "fp32")
    assert {type(opt) for opt in optimizers.groups.values()} == {torch.optim.RMSprop}
    assert all(foreach for _, foreach in implementations(optimizers).values())
