"""--checkpoint-activations: the generators' residual blocks are recomputed in backward. Training with it
matches training without it to rounding, and it keeps fewer tensor elements for backward."""

import pytest
import torch

from pairless.checkpoint import build_model, read_weights
from pairless.nn.resnet_generator import ResnetBlock, ResnetGenerator, checkpoint_residual_blocks
from pairless.train.loop import train
from tests.conftest import tiny_config

WEIGHT_TOLERANCE = 1e-6
"""Largest weight difference allowed after 4 steps; the steps themselves move weights by about 1e-3."""
LOSS_TOLERANCE = 1e-5
"""Relative difference allowed between the logged mean losses."""


@pytest.mark.parametrize("method", ["cut", "cyclegan"])
def test_training_with_recomputed_blocks_matches_plain_training(tmp_path, unpaired_dir, method):
    runs = {}
    for recompute in (True, False):
        cfg = tiny_config(method, unpaired_dir, **{"train.steps": 4, "train.log_every": 4, "train.save_every": 100,
                                                  "train.checkpoint_activations": recompute})
        result = train(cfg, tmp_path / str(recompute), quiet=True)
        runs[recompute] = result.losses, read_weights(tmp_path / str(recompute))[0]
    (ours, our_weights), (plain, plain_weights) = runs[True], runs[False]
    assert ours.keys() == plain.keys()
    for name, value in plain.items():
        assert ours[name] == pytest.approx(value, rel=LOSS_TOLERANCE), name
    for name, value in plain_weights.items():
        assert torch.allclose(our_weights[name], value, rtol=0, atol=WEIGHT_TOLERANCE), name


def test_the_switch_reaches_every_residual_block_and_saves_less_for_backward():
    cfg = tiny_config("cut", ".", **{"train.checkpoint_activations": True})
    blocks = [m for m in build_model(cfg).modules() if isinstance(m, ResnetBlock)]
    assert blocks and all(block.recompute for block in blocks)

    def saved_elements(generator):
        sizes = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: sizes.append(t.numel()) or t, lambda t: t):
            generator(torch.rand(1, 3, 32, 32))
        return sum(sizes)

    generator = ResnetGenerator(width=8, n_blocks=4)
    plain = saved_elements(generator)
    assert checkpoint_residual_blocks(generator) == 4
    assert saved_elements(generator) < plain
