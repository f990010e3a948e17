"""Loading another implementation's state dict into a pairless network, key by key, or failing clearly.

Every tensor of the file lands in the pairless network under its translated name with the same shape, or
is one of the few entries pairless provably does without (each checked where it is dropped):
- the bias of a convolution followed by instance norm without affine parameters: the norm subtracts each
  channel's mean, bias included, so the output does not depend on it (pairless's convolutions there have
  no bias);
- running statistics of an instance norm that does not track them (checkpoints written before PyTorch 0.4
  hold them; the original code deletes them when it loads);
- the fixed blur filters of anti-aliased resampling, stored as buffers, when they equal pairless's.
Anything else, and every pairless tensor the file lacks, is an error naming the file, the key and the shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pairless.errors import PairlessError
from pairless.interop.reading import StateDict
from pairless.nn.antialias import BlurDownsample, BlurUpsample

RUNNING_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")
Rule = tuple[str, str | Callable[[re.Match], str]]
"""A regular expression and its replacement (a template or a function of the match)."""


@dataclass(frozen=True)
class KeyNames:
    """How one kind of network names its tensors in the original code (`there`) and in pairless (`here`):
    substitutions applied in order, each direction written out."""

    to_here: Sequence[Rule]
    to_there: Sequence[Rule]

    def here(self, key: str) -> str:
        return _rewrite(key, self.to_here)

    def there(self, key: str) -> str:
        return _rewrite(key, self.to_there)


def _rewrite(key: str, rules: Sequence[Rule]) -> str:
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


def convert_state(network: nn.Module, state: StateDict, names: KeyNames, source: str) -> StateDict:
    """`state` (the original's names) as `network`'s state dict; `source` names the file in errors."""
    target = network.state_dict()
    converted: StateDict = {}
    for key, value in state.items():
        name = names.here(key)
        if name in target:
            if value.shape != target[name].shape:
                raise PairlessError(f"{source}: {key} has shape {_shape(value)}, but the network its other "
                                    f"tensors describe needs {_shape(target[name])} there")
            converted[name] = value.to(target[name].dtype)
        elif not redundant(network, name, value):
            raise PairlessError(f"{source}: unexpected key {key} {_shape(value)}; it has no place in the "
                                f"network the file's other tensors describe")
    missing = [name for name in target if name not in converted]
    if missing:
        raise PairlessError(f"{source}: key {names.there(missing[0])} {_shape(target[missing[0]])} is missing"
                            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return converted


def weight_of(state: StateDict, key: str, dims: int, source: str) -> Tensor:
    """The tensor `key`, which the architecture is read from, checked to be a weight of `dims` dimensions."""
    value = state[key]
    if value.dim() != dims or 0 in value.shape:
        raise PairlessError(f"{source}: {key} has shape {_shape(value)}, not that of a {dims}-dimensional weight")
    return value


def redundant(network: nn.Module, name: str, value: Tensor) -> bool:
    """Whether the tensor `name` of the original is one pairless provably does without (module docstring)."""
    path, _, attribute = name.rpartition(".")
    module = _submodule(network, path)
    if module is None:
        return False
    if attribute == "bias":
        return _bias_cancelled_by_norm(network, path, module)
    if attribute in RUNNING_STATISTICS:
        return isinstance(module, nn.InstanceNorm2d) and not module.track_running_stats
    if attribute == "filt" and isinstance(module, (BlurDownsample, BlurUpsample)):
        kernel = module.kernel
        return value.shape == kernel.shape and torch.allclose(value.float(), kernel, rtol=0, atol=1e-7)
    return False


def _bias_cancelled_by_norm(network: nn.Module, path: str, module: nn.Module) -> bool:
    if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) or module.bias is not None:
        return False
    parent_path, _, index = path.rpartition(".")
    parent = _submodule(network, parent_path)
    if not isinstance(parent, nn.Sequential) or not index.isdigit() or int(index) + 1 >= len(parent):
        return False
    following = parent[int(index) + 1]
    return isinstance(following, nn.InstanceNorm2d) and not following.affine


def _submodule(network: nn.Module, path: str) -> nn.Module | None:
    try:
        return network.get_submodule(path)
    except AttributeError:
        return None


def _shape(tensor: Tensor) -> str:
    return "[" + ", ".join(map(str, tensor.shape)) + "]"
