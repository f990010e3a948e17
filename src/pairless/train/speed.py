"""The opt-in capture path (--cuda-graphs): the trained networks compiled by torch.compile.

With mode "reduce-overhead" inductor replays each compiled forward and backward as a CUDA graph on CUDA,
which removes the per-kernel launch cost that bounds small-batch steps. On the CPU the same call compiles
to C++ kernels without graphs, which is how the path is exercised where no GPU is at hand.
"""

from __future__ import annotations

import torch._inductor.config
from torch import nn

COMPILE_OPTIONS = {"mode": "reduce-overhead"}
"""torch.compile's arguments (inductor, CUDA graphs on CUDA); tests swap in a backend that compiles quickly."""


def trained_networks(model) -> list[nn.Module]:
    """The networks the model's optimisers update, each once."""
    networks = {}
    for group in model.optimizer_groups():
        for name in group.networks:
            network = getattr(model, name)
            networks[id(network)] = network
    return list(networks.values())


def compile_networks(model) -> int:
    """Compile every trained network in place (its parameters and state-dict keys stay as they are);
    returns how many were compiled."""
    torch._inductor.config.fallback_random = True  # random draws as in eager mode: the same run either way
    networks = trained_networks(model)
    for network in networks:
        network.compile(**COMPILE_OPTIONS)
    return len(networks)
