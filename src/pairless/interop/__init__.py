"""Importing checkpoints written by the original implementations into pairless run folders.

`import_checkpoints(files, out)` reads the files (tensors only), tells their format from their names and
contents (or takes it from `source_format`), infers every architecture setting from the tensor shapes,
loads each network key by key (pairless.interop.mapping says what may be dropped, and why that is exact)
and writes a run folder that translate, serve, export, evaluate, the Python API and `train --init` accept:
`config.yaml`, `latest.safetensors` (only the networks the files held) and `import.json` (the source files
with their SHA-256, the format, the inferred settings and notes).
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pairless.checkpoint import WEIGHTS, atomic_write, build_model, check_new_run_dir, weights_bytes
from pairless.config import IMPORT_RECORD, RunConfig
from pairless.errors import PairlessError, writing
from pairless.interop import resnet, ugatit
from pairless.interop.mapping import convert_state
from pairless.interop.plan import ImportPlan, NetworkSource
from pairless.interop.reading import SourceFile, read_source_file
from pairless.models.base import Method, TranslationModel
from pairless.nn.patch_sampler import PatchSampleMLP
from pairless.nn.similarity import SimilarityProjector

FORMATS = {
    "cyclegan": "junyanz/pytorch-CycleGAN-and-pix2pix (also the CUT repository's cycle_gan): latest_net_G_A/G_B/"
                "D_A/D_B.pth, or one released generator (latest_net_G.pth, horse2zebra.pth, ...)",
    "cut": "taesungp/contrastive-unpaired-translation, CUT: latest_net_G.pth [+ latest_net_F.pth, latest_net_D.pth]",
    "fastcut": "the same repository, FastCUT (same files)",
    "dclgan": "JunlinHan/DCLGAN, DCLGAN: latest_net_G_A/G_B/F1/F2/D_A/D_B.pth",
    "simdcl": "JunlinHan/DCLGAN, SimDCL: as DCLGAN, with the similarity heads F3-F6 if given",
    "ugatit": "znxlwm/UGATIT-pytorch, full or light: <dataset>_params_latest.pt",
}
"""The formats `pairless import --from` accepts, with the files each reads."""


@dataclass
class ImportResult:
    run_dir: Path
    method: str
    source_format: str
    networks: list[str]
    directions: tuple[str, ...]
    notes: list[str]


def import_checkpoints(paths: Sequence[str | Path], out: str | Path, source_format: str | None = None,
                       options: dict[str, str] | None = None) -> ImportResult:
    """Import the checkpoint files (or folders of them) `paths` into a new run folder `out`. `options` are
    command-line options (`{"nce-layers": "4,8"}`) for what the files cannot tell."""
    out = Path(out)
    check_new_run_dir(out)
    if out.is_dir() and any(out.iterdir()):  # even a run that has not saved yet: it may be training now
        raise PairlessError(f"--out {out} is not empty; an import writes a new run folder: choose another --out")
    files = [read_source_file(path) for path in checkpoint_files([Path(p) for p in paths])]
    plan = make_plan(files, source_format)
    cfg = RunConfig.defaults(plan.method).override(plan.settings)
    cfg = cfg.override(cfg.option_overrides(options or {})).resolved()
    with warnings.catch_warnings():  # notes about training-only terms do not concern an import
        warnings.simplefilter("ignore", UserWarning)
        model = build_model(cfg)
    for source in plan.networks:
        network = model.get_submodule(source.network)
        _check_head_count(network, source, cfg)
        network.load_state_dict(convert_state(network, source.state, source.names, source.source))
    loaded = [source.network for source in plan.networks]
    notes = plan.notes + _missing_network_notes(model, loaded)
    _write_run(out, model.eval(), cfg, loaded, files, plan, notes)
    directions = tuple(d for d, net in getattr(model, "direction_networks", {}).items() if net in loaded)
    return ImportResult(out, plan.method, plan.source_format, loaded, directions, notes)


def make_plan(files: list[SourceFile], source_format: str | None) -> ImportPlan:
    if source_format is not None and source_format not in FORMATS:
        raise PairlessError(f"--from must be one of {', '.join(FORMATS)}, got {source_format!r}")
    if any(ugatit.is_ugatit(file) for file in files):
        if source_format not in (None, "ugatit"):
            raise PairlessError(f"{files[0].path} is a UGATIT-pytorch checkpoint, not {source_format}")
        return ugatit.plan_import(files)
    if source_format == "ugatit":
        raise PairlessError(f"{files[0].path} is not a UGATIT-pytorch checkpoint (no genA2B / genB2A entries)")
    options = resnet.read_training_options(files[0].path.parent)
    return resnet.plan_import(files, source_format or resnet.detect_format(files, options), options)


def checkpoint_files(paths: list[Path]) -> list[Path]:
    """The files themselves, and for a folder the checkpoint files of its latest save (`latest_net_*.pth`,
    `*_params_latest.pt`, else those of the highest epoch or step)."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise PairlessError(f"checkpoint file not found: {path}")
        files += _latest_in_folder(path) if path.is_dir() else [path]
    if not files:
        raise PairlessError("no checkpoint files given")
    return files


def _latest_in_folder(folder: Path) -> list[Path]:
    for pattern in (r"latest_net_\w+\.pth", r".*_params_latest\.pt"):
        found = sorted(p for p in folder.iterdir() if re.fullmatch(pattern, p.name))
        if found:
            return found
    numbered = [(int(m.group(1)), p) for p in folder.iterdir()
                if (m := re.fullmatch(r"(\d+)_net_\w+\.pth", p.name) or re.fullmatch(r".*_params_(\d+)\.pt", p.name))]
    if not numbered:
        raise PairlessError(f"{folder} holds no checkpoint files of a known implementation (*_net_*.pth, "
                            f"*_params_*.pt); give the files")
    last = max(number for number, _ in numbered)
    return sorted(p for number, p in numbered if number == last)


def _check_head_count(network, source: NetworkSource, cfg: RunConfig) -> None:
    """Heads whose size is one per PatchNCE layer: a count other than --nce-layers' names that option."""
    layers = tuple(getattr(cfg.model, "nce_layers", ()))
    if isinstance(network, PatchSampleMLP):
        what, count = "projection MLPs", len({key.split(".")[0] for key in source.state})
    elif isinstance(network, SimilarityProjector) and "model.0.weight" in source.state:
        what, count = "input channels (one per PatchNCE layer)", int(source.state["model.0.weight"].shape[1])
    else:
        return
    if count != len(layers):
        raise PairlessError(f"{source.source} holds {count} {what}, but --nce-layers {','.join(map(str, layers))} "
                            f"has {len(layers)}: pass the --nce-layers it was trained with (its train_opt.txt "
                            f"lists them)")


def _missing_network_notes(model: Method, loaded: list[str]) -> list[str]:
    missing = [name for name, _ in model.named_children() if name not in loaded]
    if not missing:
        return []
    directions = [d for d, net in getattr(model, "direction_networks", {}).items() if net in missing]
    note = f"not in the files: {', '.join(missing)}; `train --init` starts them anew"
    if isinstance(model, TranslationModel) and directions:
        note += f", and the run does not translate {' or '.join(directions)}"
    return [note]


def _write_run(out: Path, model: Method, cfg: RunConfig, networks: list[str], files: list[SourceFile],
               plan: ImportPlan, notes: list[str]) -> None:
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / "config.yaml")
    record = {"format": plan.source_format, "method": plan.method, "networks": networks,
              "files": [{"path": str(file.path.resolve()), "sha256": _sha256(file.path)} for file in files],
              "inferred": plan.settings, "notes": notes}
    atomic_write(out / IMPORT_RECORD, (json.dumps(record, indent=2) + "\n").encode())
    atomic_write(out / WEIGHTS, weights_bytes(model, cfg, 0, networks))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
