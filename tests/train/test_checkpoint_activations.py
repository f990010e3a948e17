"""--checkpoint-activations: the generators' residual blocks are recomputed in backward. Training with it
matches training without it to rounding, and it keeps fewer tensor elements for backward."""

import pytest
import torch

from pairless.checkpoint import build_model
from pairless.nn.resnet_generator import ResnetBlock, ResnetGenerator, checkpoint_residual_blocks
from tests.conftest import assert_switch_keeps_training_the_same, tiny_config


@pytest.mark.parametrize("method", ["cut", "cyclegan"])
def test_training_with_recomputed_blocks_matches_plain_training(tmp_path, unpaired_dir, method):
    assert_switch_keeps_training_the_same(method, unpaired_dir, tmp_path, "train.checkpoint_activations")


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
