"""Random decisions taken inside a training step (FastCUT's flip, the image pools' swaps).

They come from torch's global CPU generator, which checkpoints save, so a resumed run replays them. The
numbers are drawn as CPU tensors and read with `tolist()`: nothing is read from the training device, so a
decision never waits for it, and no `.item()` is dispatched (on a CPU run, benchmarks/cost.py counts every
`.item()` as a device synchronisation, since it cannot tell host tensors from device ones)."""

from __future__ import annotations

from typing import cast

import torch


def host_uniform() -> float:
    """A number in [0, 1): the value `torch.rand(())` draws."""
    return cast(float, torch.rand((), device="cpu").tolist())  # a 0-d tensor lists as its number


def host_randint(high: int) -> int:
    """An integer in [0, high): the value `torch.randint(high, ())` draws."""
    return cast(int, torch.randint(high, (), device="cpu").tolist())
