"""Checkpoints of the CycleGAN/pix2pix, CUT and DCLGAN repositories, which share one code base's networks:
a ResNet generator, a PatchGAN discriminator and (CUT, DCLGAN) the patch-projection MLPs of PatchNCE.

Each network is saved to its own file, `<epoch>_net_<name>.pth`. Their layer lists have the same indices as
pairless's (`model.N` there, `layers.N` here), so the architecture follows from the keys and shapes: width,
residual blocks, anti-aliased down- and upsampling, discriminator layers, channels, projection width.
The CycleGAN convention is kept in the file names: `net_D_A` judges domain B (it scores G_A's outputs).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pairless.errors import PairlessError
from pairless.interop.mapping import KeyNames, weight_of
from pairless.interop.plan import ImportPlan, NetworkSource, files_by_role
from pairless.interop.reading import SourceFile, StateDict

GENERATOR = KeyNames(to_here=[(r"^model\.", "layers."), (r"\.conv_block\.", ".body.")],
                     to_there=[(r"^layers\.", "model."), (r"\.body\.", ".conv_block.")])
GENERATOR_WITH_DROPOUT = KeyNames(
    to_here=[(r"^model\.", "layers."), (r"\.conv_block\.([67])\.", lambda m: f".body.{int(m.group(1)) - 1}."),
             (r"\.conv_block\.", ".body.")],
    to_there=[(r"^layers\.", "model."), (r"\.body\.([56])\.", lambda m: f".conv_block.{int(m.group(1)) + 1}."),
              (r"\.body\.", ".conv_block.")])
"""Residual blocks trained with dropout (`use_dropout`) have it after their first ReLU, which moves the second
convolution and norm one index up. Dropout has no weights and is the identity when evaluating (the
original's `--eval`)."""
DISCRIMINATOR = KeyNames(to_here=[(r"^model\.", "layers.")], to_there=[(r"^layers\.", "model.")])
PATCH_HEADS = KeyNames(to_here=[(r"^mlp_(\d+)\.", r"mlps.\1.")], to_there=[(r"^mlps\.(\d+)\.", r"mlp_\1.")])
SIMILARITY_HEAD = KeyNames(to_here=[(r"^model\.0\.", "conv."), (r"^model\.4\.", "mlp.0."), (r"^model\.6\.", "mlp.2.")],
                           to_there=[(r"^conv\.", "model.0."), (r"^mlp\.0\.", "model.4."), (r"^mlp\.2\.", "model.6.")])
"""SimDCL's MappingF: conv, ReLU, pool, flatten, Linear, ReLU, Linear in one Sequential."""

CYCLE_ROLES = {"G_A": "G_AB", "G_B": "G_BA", "D_A": "D_B", "D_B": "D_A"}
ROLES = {
    "cyclegan": {**CYCLE_ROLES, "G": "G_AB"},
    "cut": {"G": "G", "D": "D", "F": "F"},
    "fastcut": {"G": "G", "D": "D", "F": "F"},
    "dclgan": {**CYCLE_ROLES, "F1": "F_A", "F2": "F_B"},
    "simdcl": {**CYCLE_ROLES, "F1": "F_A", "F2": "F_B",
               "F3": "H_real_A", "F4": "H_fake_B", "F5": "H_real_B", "F6": "H_fake_A"},
}
"""Per format: the original's network names (from the file names) -> pairless's."""
TRAINING_OPTIONS = "train_opt.txt"
"""Where the CUT and DCLGAN repositories write the options of a training run, beside its checkpoints."""


def detect_format(files: list[SourceFile], options: dict[str, str]) -> str:
    """The format these files are in, from their names, the options file beside them and whether the
    generator is anti-aliased (only the CUT code base anti-aliases)."""
    roles = {file.role for file in files}
    trained = options.get("model", "")
    if trained in ("dcl", "simdcl"):
        return "dclgan" if trained == "dcl" else "simdcl"
    if roles & {"F3", "F4", "F5", "F6"}:
        return "simdcl"
    if roles & {"F1", "F2"}:
        return "dclgan"
    if "F" in roles or trained == "cut":
        return "fastcut" if options.get("CUT_mode", "").lower() == "fastcut" else "cut"
    antialiased = any(_is_antialiased(file.content) for file in files)
    if roles & set(CYCLE_ROLES):
        return "dclgan" if antialiased and trained != "cycle_gan" else "cyclegan"
    if roles <= {"G", "D", None} and len(files) <= 2 and any(_is_generator(file.content) for file in files):
        return "cut" if antialiased else "cyclegan"
    keys = sorted(key for file in files for key in file.content)
    raise PairlessError(f"cannot tell which implementation wrote {', '.join(str(f.path) for f in files)} (keys "
                        f"{', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}); pass --from if it is one of "
                        f"cyclegan, cut, fastcut, dclgan, simdcl, ugatit (`pairless import --help`)")


def _is_antialiased(content) -> bool:
    """Whether a state dict holds the blur filters of anti-aliased resampling."""
    return any(isinstance(key, str) and key.endswith(".filt") for key in content)


def _is_generator(content) -> bool:
    """Whether a state dict looks like this code base's ResNet generator."""
    return "model.1.weight" in content and any(".conv_block." in key for key in content)


def plan_import(files: list[SourceFile], source_format: str, options: dict[str, str]) -> ImportPlan:
    plan = ImportPlan(source_format, source_format, _settings_from_options(options), [])
    for network, file in files_by_role(files, ROLES[source_format], source_format):
        state, label = file.state_dict(), file.path.name
        if network.startswith("G"):
            names = _merge(plan, generator_settings(state, label, direction=network), label)
            if names is GENERATOR_WITH_DROPOUT:
                plan.notes.append(f"{label} was trained with dropout in its residual blocks: it translates as the "
                                  f"original does with --eval (dropout off); fine-tuning trains without dropout")
        elif network.startswith("D"):
            names = _merge(plan, discriminator_settings(state, label), label)
        elif network.startswith("H"):
            names = _merge(plan, similarity_head_settings(state, label), label)
        else:
            names = _merge(plan, head_settings(state, label), label)
        plan.networks.append(NetworkSource(network, state, names, label))
    return plan


def _merge(plan: ImportPlan, found: tuple[dict[str, Any], KeyNames], source: str) -> KeyNames:
    settings, names = found
    plan.add_settings(settings, source)
    return names


def generator_settings(state: StateDict, source: str, direction: str) -> tuple[dict[str, Any], KeyNames]:
    """Width, residual blocks, anti-aliasing and channels of a ResNet generator, from its keys and shapes."""
    convs = _indexed(state, r"model\.(\d+)\.weight")
    blocks = sorted({int(m.group(1)) for key in state if (m := re.match(r"model\.(\d+)\.conv_block\.", key))})
    if 1 not in convs or not blocks:
        raise PairlessError(f"{source}: not a ResNet generator of the CycleGAN/CUT code (no model.1.weight or no "
                            f"residual blocks model.N.conv_block); pass --from if it is another implementation's")
    before = [i for i in sorted(convs) if i < blocks[0]]
    after = [i for i in sorted(convs) if i > blocks[-1]]
    if len(before) != 3 or len(after) != 3:
        raise PairlessError(f"{source}: a ResNet generator with {len(before) - 1} downsamplings and {len(after) - 1} "
                            f"upsamplings; pairless's has two of each")
    first, last = (weight_of(state, f"model.{i}.weight", 4, source) for i in (1, after[-1]))
    source_channels, target_channels = int(first.shape[1]), int(last.shape[0])
    if direction == "G_BA":
        source_channels, target_channels = target_channels, source_channels
    settings = {"model.width": int(first.shape[0]), "model.n_blocks": len(blocks),
                "model.antialias": before[2] - before[1] == 4, "model.antialias_up": after[0] == blocks[-1] + 2,
                "data.channels_a": source_channels, "data.channels_b": target_channels}
    dropout = any(key.endswith(".conv_block.6.weight") for key in state)
    return settings, GENERATOR_WITH_DROPOUT if dropout else GENERATOR


def discriminator_settings(state: StateDict, source: str) -> tuple[dict[str, Any], KeyNames]:
    convs = _indexed(state, r"model\.(\d+)\.weight")
    if 0 not in convs or len(convs) < 3:
        raise PairlessError(f"{source}: not a PatchGAN discriminator of the CycleGAN/CUT code (no model.0.weight)")
    width = int(weight_of(state, "model.0.weight", 4, source).shape[0])
    return {"model.width": width, "model.d_layers": len(convs) - 2, "model.antialias": 3 in convs}, DISCRIMINATOR


def head_settings(state: StateDict, source: str) -> tuple[dict[str, Any], KeyNames]:
    firsts = _indexed(state, r"mlp_(\d+)\.0\.weight")
    if not firsts:
        raise PairlessError(f"{source}: not the patch-projection MLPs of CUT/DCLGAN (no mlp_0.0.weight)")
    return {"model.head_dim": int(weight_of(state, "mlp_0.0.weight", 2, source).shape[0])}, PATCH_HEADS


def similarity_head_settings(state: StateDict, source: str) -> tuple[dict[str, Any], KeyNames]:
    if "model.0.weight" not in state:
        raise PairlessError(f"{source}: not a similarity head of SimDCL (no model.0.weight)")
    return {"model.sim_dim": int(weight_of(state, "model.0.weight", 4, source).shape[0])}, SIMILARITY_HEAD


def _indexed(state: StateDict, pattern: str) -> dict:
    return {int(m.group(1)): value for key, value in state.items() if (m := re.fullmatch(pattern, key))}


def read_training_options(folder: Path) -> dict[str, str]:
    """`name: value` lines of the options file the CUT and DCLGAN code write beside their checkpoints."""
    path = folder / TRAINING_OPTIONS
    if not path.is_file():
        return {}
    options = {}
    for line in path.read_text(errors="replace").splitlines():
        match = re.match(r"\s*(\w+): (\S+)", line)
        if match:
            options[match.group(1)] = match.group(2)
    return options


def _settings_from_options(options: dict[str, str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if "nce_layers" in options:
        settings["model.nce_layers"] = options["nce_layers"]
    if options.get("crop_size", "").isdigit():
        settings["data.size"] = int(options["crop_size"])
    return settings
