"""Checkpoints: weights as safetensors (with the run config inside) + a state file to resume exactly.

Files are written atomically (temporary file, fsync, rename), so an interrupted write never leaves a
truncated checkpoint behind. A run folder holds `latest.safetensors` / `latest.state.pt` and the last
few step-numbered copies under `checkpoints/`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from pairless.config import RunConfig, checkpoint_metadata, metadata_json, metadata_step
from pairless.errors import PairlessError, writing
from pairless.models.base import Method, TranslationModel
from pairless.models.registry import get_method
from pairless.nn.resnet_generator import checkpoint_residual_blocks

FORMAT = "pairless/1"
WEIGHTS = "latest.safetensors"
STATE = "latest.state.pt"
CHECKPOINTS = "checkpoints"
"""The folder of a run's step-numbered checkpoints (the last --keep-last of them)."""


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file, so `path` holds either the old or the new bytes.

    If writing fails (a full disk), the temporary file is removed and a `PairlessError` names `path`.
    """
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise


def model_channels(cfg: RunConfig) -> tuple[int, int]:
    """Channels of the model's source and target domains (swapped when the data direction is BtoA)."""
    a, b = cfg.data.channels_a, cfg.data.channels_b
    return (a, b) if cfg.data.direction == "AtoB" else (b, a)


def build_model(cfg: RunConfig) -> Method:
    cfg = cfg.resolved()
    model = get_method(cfg.method).model_class.build(cfg.model, *model_channels(cfg))
    checkpoint_residual_blocks(model, cfg.train.checkpoint_activations)
    return model


def weights_bytes(model: Method, cfg: RunConfig, step: int, networks: Sequence[str] | None = None) -> bytes:
    """The model's weights with its config; with `networks`, only those networks' (an imported model that
    came without some, e.g. a generator released without its discriminator), which the metadata lists."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()
               if networks is None or network_of(k) in networks}
    metadata = {"format": FORMAT, "config": json.dumps(cfg.to_dict()), "step": str(step)}
    if networks is not None:
        metadata["networks"] = json.dumps(list(networks))
    return save_safetensors_bytes(tensors, metadata=metadata)


def network_of(key: str) -> str:
    """The network (top-level submodule) a state-dict key belongs to: `G_AB.layers.1.weight` -> `G_AB`."""
    return key.split(".", 1)[0]


def state_bytes(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def save_checkpoint(run_dir: Path, model: Method, cfg: RunConfig, step: int,
                    trainer_state: dict[str, Any], keep_last: int) -> Path:
    """Write step-numbered and latest copies of weights and state; prune old step-numbered ones."""
    weights = weights_bytes(model, cfg, step)
    state = state_bytes({"step": step, "model": model.training_state(), **trainer_state})
    if keep_last > 0:
        folder = run_dir / CHECKPOINTS
        step_weights = folder / f"step_{step:08d}.safetensors"
        atomic_write(step_weights, weights)
        atomic_write(state_beside(step_weights), state)
        prune_checkpoints(folder, keep_last)
    atomic_write(run_dir / WEIGHTS, weights)
    atomic_write(run_dir / STATE, state)
    return run_dir / WEIGHTS


LOCK_FILE = ".pairless.lock"
"""Held by the process training in a run folder (pairless.train.runlock)."""
STARTED_RUN = ("config.yaml", "metrics.jsonl")
"""What a run folder holds from its first iteration on, before its first checkpoint."""
SHOWN_ENTRIES = 3


def check_new_run_dir(run_dir: Path) -> None:
    """Refuse an --out that is a file, already holds a run, or holds files of anything but a pairless run
    (training would write config.yaml, samples/, ... over them). A run that stopped before its first
    checkpoint may be started again."""
    if run_dir.exists() and not run_dir.is_dir():
        raise PairlessError(f"--out {run_dir} is a file; a run needs a folder of its own: choose another --out")
    if holds_saved_run(run_dir):
        raise PairlessError(f"{run_dir} already holds a run; resume it with --resume {run_dir} or choose "
                            f"another --out")
    if not run_dir.is_dir() or all((run_dir / name).is_file() for name in STARTED_RUN):
        return
    entries = sorted(entry.name for entry in run_dir.iterdir() if entry.name != LOCK_FILE)
    if entries:
        shown = ", ".join(entries[:SHOWN_ENTRIES]) + (f" and {len(entries) - SHOWN_ENTRIES} more"
                                                      if len(entries) > SHOWN_ENTRIES else "")
        raise PairlessError(f"--out {run_dir} is not empty and not a pairless run (it holds {shown}); "
                            f"training would write over such files: choose a new folder, e.g. "
                            f"--out {new_folder_in(run_dir)}")


def new_folder_in(folder: Path, name: str = "run") -> Path:
    """`folder/run`, or `folder/run-2`, ... whichever does not exist yet."""
    candidate, number = folder / name, 1
    while candidate.exists():
        number += 1
        candidate = folder / f"{name}-{number}"
    return candidate


def prune_checkpoints(folder: Path, keep_last: int) -> None:
    for _, weights in step_numbered_weights(folder)[:-keep_last]:
        weights.unlink(missing_ok=True)
        state_beside(weights).unlink(missing_ok=True)


def step_numbered_weights(folder: Path) -> list[tuple[int, Path]]:
    """(step, weights file) of the step-numbered checkpoints in `folder`, oldest first."""
    found = []
    for weights in folder.glob("step_*.safetensors"):
        digits = weights.name[len("step_"):-len(".safetensors")]
        if digits.isdigit():
            found.append((int(digits), weights))
    return sorted(found)


def state_beside(weights: Path) -> Path:
    """The state file saved with a step-numbered weights file."""
    return weights.with_name(weights.name[:-len(".safetensors")] + ".state.pt")


def holds_saved_run(run_dir: Path) -> bool:
    """Whether a run folder holds a checkpoint: `latest.safetensors`, or a step-numbered one (a process
    killed during its first save may have written those alone)."""
    return (run_dir / WEIGHTS).is_file() or bool(step_numbered_weights(run_dir / CHECKPOINTS))


def resolve_checkpoint(path: str | Path) -> Path:
    """A weights file, or a run folder (-> its latest.safetensors)."""
    path = Path(path)
    if path.is_dir():
        if not (path / WEIGHTS).is_file():
            raise PairlessError(f"run folder {path} has no {WEIGHTS} yet (has it trained a step?)")
        return path / WEIGHTS
    if not path.is_file():
        raise PairlessError(f"checkpoint not found: {path}")
    return path


@dataclass
class Checkpoint:
    """What a pairless weights file holds."""

    path: Path
    tensors: dict[str, torch.Tensor]
    config: RunConfig
    step: int
    networks: tuple[str, ...] | None
    """The networks it holds when not all of the model's (an imported model); None: all."""


def read_checkpoint(path: str | Path) -> Checkpoint:
    path = resolve_checkpoint(path)
    try:
        data = path.read_bytes()
        tensors = load_safetensors_bytes(data)
        metadata = _safetensors_metadata(data)
    except (SafetensorError, ValueError, OSError) as exc:
        raise PairlessError(f"cannot read checkpoint {path}: {exc}") from None
    if metadata.get("format") != FORMAT or "config" not in metadata:
        raise PairlessError(f"{path} is not a pairless checkpoint (no run config in its metadata)")
    config, networks = metadata_json(metadata, "config", dict, path), metadata_json(metadata, "networks", list, path)
    return Checkpoint(path, tensors, RunConfig.from_dict(config), metadata_step(metadata, path),
                      tuple(networks) if networks else None)


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], RunConfig, int]:
    """Tensors, run config and step of a pairless weights file."""
    checkpoint = read_checkpoint(path)
    return checkpoint.tensors, checkpoint.config, checkpoint.step


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    header_length = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + header_length]).get("__metadata__", {})


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[Method, RunConfig, int]:
    """Rebuild the model a checkpoint was trained with and load its weights. A checkpoint that holds only
    some networks (an imported model) translates only in the directions whose generator it holds."""
    checkpoint = read_checkpoint(path)
    refuse_nonfinite_weights(checkpoint)
    with warnings.catch_warnings():  # notes about training-only terms do not concern inference
        warnings.simplefilter("ignore", UserWarning)
        model = build_model(checkpoint.config)
    load_weights(model, checkpoint.tensors, checkpoint.path, checkpoint.networks)
    if checkpoint.networks is not None and isinstance(model, TranslationModel):
        model.keep_directions_of(checkpoint.networks, checkpoint.path)
    return model.to(device).eval(), checkpoint.config, checkpoint.step


def refuse_nonfinite_weights(checkpoint: Checkpoint) -> None:
    """A checkpoint saved after training diverged would translate every image to black or grey."""
    broken = [key for key, value in checkpoint.tensors.items()
              if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if broken:
        raise PairlessError(f"checkpoint {checkpoint.path} holds weights that are not finite ({', '.join(broken[:3])}"
                            f"{' and more' if len(broken) > 3 else ''}): its training diverged; use an earlier "
                            f"checkpoint (the run folder's checkpoints/)")


def load_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: str | Path,
                 networks: Sequence[str] | None = None) -> None:
    """The checkpoint's tensors into `model` (only into `networks` if given, leaving the others as they are),
    or one line saying which do not match (e.g. a checkpoint written before a method gained or lost layers)."""
    problems = load_or_name_misfits(model, tensors, networks)
    if problems:
        raise PairlessError(f"checkpoint {path} does not fit the model its config describes "
                            f"({'; '.join(problems)}); was it written by another pairless version?")


def load_or_name_misfits(model: torch.nn.Module, tensors: dict[str, torch.Tensor],
                         networks: Sequence[str] | None) -> list[str]:
    """Load `tensors` into `model` (into `networks` only, if given); or, loading nothing, name what does not
    fit: missing and unexpected keys, or the first shape that differs."""
    expected = {k for k in model.state_dict() if networks is None or network_of(k) in networks}
    problems = [f"{kind} {', '.join(sorted(names)[:3])}" for kind, names in
                (("missing", expected - set(tensors)), ("unexpected", set(tensors) - expected)) if names]
    if not problems:
        try:
            model.load_state_dict(tensors, strict=networks is None)
        except RuntimeError as exc:
            problems = [str(exc).strip().splitlines()[-1].strip()]
    return problems


def load_initial_weights(model: Method, source: str | Path) -> tuple[str, ...]:
    """The networks of a run folder or checkpoint (`train --init`) into `model`, the rest left as they are;
    returns their names. Networks only, not the model's own counters: the new run's schedule starts anew."""
    checkpoint = read_checkpoint(source)
    refuse_nonfinite_weights(checkpoint)
    present = {network_of(k) for k in checkpoint.tensors}
    networks = tuple(name for name, _ in model.named_children() if name in present)
    extra = sorted(present - set(networks) - set(dict(model.named_buffers(recurse=False))))
    if extra or not networks:
        raise PairlessError(f"--init {source}: its networks ({', '.join(sorted(present))}) are not those of a "
                            f"{type(model).__name__} ({', '.join(n for n, _ in model.named_children())})")
    tensors = {k: v for k, v in checkpoint.tensors.items() if network_of(k) in networks}
    problems = load_or_name_misfits(model, tensors, networks)
    if problems:
        raise PairlessError(f"--init {source}: its networks do not fit the model of these settings; an option "
                            f"that changes the architecture (--width, --n-blocks, --preset, ...) must keep the "
                            f"source's ({problems[0]})")
    return networks


@dataclass(frozen=True)
class ResumePoint:
    """The save a resumed run continues from: a weights file and the state written with it."""

    weights: Path
    state: dict[str, Any]
    step: int


def find_resume_point(run_dir: Path) -> ResumePoint:
    """The newest complete save of a run folder. `latest.*` normally; a step-numbered pair under
    checkpoints/ when it is newer, or when a process killed while saving left `latest.*` incomplete or
    from two steps (each file is written atomically, the pair is not)."""
    latest_step = saved_step(run_dir / WEIGHTS) if (run_dir / WEIGHTS).is_file() else None
    state = read_state(run_dir / STATE) if latest_step is not None and (run_dir / STATE).is_file() else None
    complete = state is not None and state.get("step") == latest_step
    for step, weights in reversed(step_numbered_weights(run_dir / CHECKPOINTS)):
        if complete and latest_step is not None and step <= latest_step:
            break
        if not state_beside(weights).is_file() or saved_step(weights) != step:
            continue
        saved = read_state(state_beside(weights))
        if saved.get("step") == step:
            if not complete:
                warnings.warn(f"{_incomplete(latest_step, state)} (a process stopped while saving); "
                              f"resuming from {weights}", stacklevel=2)
            return ResumePoint(weights, saved, step)
    if not complete or state is None or latest_step is None:
        raise PairlessError(f"cannot resume {run_dir}: {_incomplete(latest_step, state)}, and "
                            f"{CHECKPOINTS}/ holds no complete pair to resume from")
    return ResumePoint(run_dir / WEIGHTS, state, latest_step)


def _incomplete(latest_step: int | None, state: dict[str, Any] | None) -> str:
    if latest_step is None:
        return f"{WEIGHTS} is missing"
    if state is None:
        return f"{STATE} is missing"
    return f"{WEIGHTS} is from step {latest_step} but {STATE} from step {state.get('step')}"


def saved_step(path: Path) -> int:
    """The step a pairless weights file was saved at, from its header alone."""
    return metadata_step(checkpoint_metadata(path), path)


def read_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PairlessError(f"cannot resume: {path} is missing") from None
    except Exception as exc:
        raise PairlessError(f"cannot resume: {path} is unreadable ({exc})") from None
