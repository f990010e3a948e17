"""Reading other implementations' checkpoint files: tensors only (a file from the internet must not run
code), with one-line errors that name the file."""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from pairless.errors import PairlessError

StateDict = dict[str, Tensor]
DATA_PARALLEL_PREFIX = "module."
"""What torch.nn.DataParallel puts before every key; the CUT repository saves it when trained on a CPU."""


@dataclass
class SourceFile:
    """One checkpoint file of another implementation."""

    path: Path
    content: StateDict | dict[str, StateDict]
    """A state dict, or (UGATIT-pytorch) a dict of them, one per network."""

    @property
    def role(self) -> str | None:
        """The network the original code saved in it, from its file name: `latest_net_G_A.pth` -> `G_A`
        (None for other names, such as the CycleGAN repository's released `horse2zebra.pth`)."""
        match = re.search(r"(?:^|_)net_(\w+?)\.pth$", self.path.name)
        return match.group(1) if match else None

    def state_dict(self) -> StateDict:
        if not is_state_dict(self.content):
            raise PairlessError(f"{self.path} holds several networks ({', '.join(self.content)}), not one")
        return self.content  # type: ignore[return-value]


def read_source_file(path: Path) -> SourceFile:
    """The tensors of a `torch.save`d file, without running any code a pickle may carry."""
    content = _load(path)
    if isinstance(content, dict) and is_state_dict(content):
        return SourceFile(path, strip_data_parallel(content))
    if isinstance(content, dict) and content and all(isinstance(v, dict) and is_state_dict(v)
                                                     for v in content.values()):
        return SourceFile(path, {name: strip_data_parallel(sd) for name, sd in content.items()})
    kinds = ", ".join(sorted({type(v).__name__ for v in content.values()})) if isinstance(content, dict) else ""
    raise PairlessError(f"{path} holds no network weights (a {type(content).__name__}"
                        f"{' of ' + kinds if kinds else ''}); give the files the original code saved its networks in")


def is_state_dict(content: dict) -> bool:
    return bool(content) and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in content.items())


def strip_data_parallel(state: StateDict) -> StateDict:
    if all(key.startswith(DATA_PARALLEL_PREFIX) for key in state):
        return {key[len(DATA_PARALLEL_PREFIX):]: value for key, value in state.items()}
    return state


def _load(path: Path) -> Any:
    if path.is_dir():
        raise PairlessError(f"{path} is a folder; give its checkpoint files")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PairlessError(f"checkpoint file not found: {path}") from None
    except pickle.UnpicklingError as exc:
        called = re.search(r"GLOBAL (\S+)", str(exc))
        if called:
            raise PairlessError(f"refusing {path}: loading it would call {called.group(1)} (a pickle that runs "
                                f"code or builds objects other than tensors); pairless reads tensors only") from None
        raise PairlessError(f"cannot read {path}: not a PyTorch checkpoint ({_first_line(exc)})") from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise PairlessError(f"cannot read {path}: truncated or not a PyTorch checkpoint ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, (KeyError, EOFError)):
        return "it ends early or holds no pickled data" if isinstance(exc, EOFError) else "unknown content"
    text = str(exc).strip().split(". ")[0].splitlines()
    return text[0] if text and text[0] else type(exc).__name__
