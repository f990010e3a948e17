"""Checkpoints of UGATIT-pytorch (znxlwm/UGATIT-pytorch): `<dataset>_params_<step>.pt` / `_params_latest.pt`,
one file holding a state dict per network: genA2B, genB2A, disGA, disGB, disLA, disLB.

Its networks are U-GAT-IT's with the PyTorch port's details, which pairless has as `--reference-code
pytorch` (no biases in the CAM classifiers and γ/β MLP, two CAM classifiers, unbiased variances in AdaLIN /
ILN, D's attention weighted by the stored classifier weight). The full model's γ/β MLP flattens the whole
attended map, so its input width gives the training size: 4 · sqrt(inputs / (4 · width)).
"""

from __future__ import annotations

import math
import re
from typing import Any

from pairless.errors import PairlessError
from pairless.interop.mapping import KeyNames, weight_of
from pairless.interop.plan import ImportPlan, NetworkSource
from pairless.interop.reading import SourceFile, StateDict

NETWORKS = {"genA2B": "G_AB", "genB2A": "G_BA", "disGA": "D_global_A", "disGB": "D_global_B",
            "disLA": "D_local_A", "disLB": "D_local_B"}
"""UGATIT-pytorch's names -> pairless's; disGA and disLA judge domain A."""
DECODER_BLOCK = 5
"""Layers per upsampling block of the decoder (upsample, pad, conv, ILN, ReLU): UpBlock2's indices."""


def _decoder_here(match: re.Match) -> str:
    index = int(match.group(1))
    if index < 2 * DECODER_BLOCK:
        return f"decoder.{index // DECODER_BLOCK}.{index % DECODER_BLOCK}."
    return f"decoder.{index - 2 * DECODER_BLOCK + 2}."


def _decoder_there(match: re.Match) -> str:
    block, layer = int(match.group(1)), match.group(2)
    if layer is not None:
        return f"UpBlock2.{block * DECODER_BLOCK + int(layer)}."
    return f"UpBlock2.{block - 2 + 2 * DECODER_BLOCK}."


GENERATOR = KeyNames(
    to_here=[(r"^DownBlock\.(\d+)\.conv_block\.", r"encoder.\1.body."), (r"^DownBlock\.", "encoder."),
             (r"^gap_fc\.", "cam.classifiers.0."), (r"^gmp_fc\.", "cam.classifiers.1."), (r"^conv1x1\.", "cam.fuse."),
             (r"^FC\.", "gamma_beta.mlp."), (r"^(gamma|beta)\.", r"gamma_beta.\1."),
             (r"^UpBlock1_(\d+)\.conv(\d)\.", lambda m: f"blocks.{int(m.group(1)) - 1}.conv{m.group(2)}.1."),
             (r"^UpBlock1_(\d+)\.norm(\d)\.", lambda m: f"blocks.{int(m.group(1)) - 1}.norm{m.group(2)}."),
             (r"^UpBlock2\.(\d+)\.", _decoder_here)],
    to_there=[(r"^encoder\.(\d+)\.body\.", r"DownBlock.\1.conv_block."), (r"^encoder\.", "DownBlock."),
              (r"^cam\.classifiers\.0\.", "gap_fc."), (r"^cam\.classifiers\.1\.", "gmp_fc."),
              (r"^cam\.fuse\.", "conv1x1."),
              (r"^gamma_beta\.mlp\.", "FC."), (r"^gamma_beta\.(gamma|beta)\.", r"\1."),
              (r"^blocks\.(\d+)\.conv(\d)\.1\.", lambda m: f"UpBlock1_{int(m.group(1)) + 1}.conv{m.group(2)}."),
              (r"^blocks\.(\d+)\.norm(\d)\.", lambda m: f"UpBlock1_{int(m.group(1)) + 1}.norm{m.group(2)}."),
              (r"^decoder\.(\d+)\.(?:(\d+)\.)?", _decoder_there)],
)
SPECTRAL_NORM_HERE = [(r"\.weight_orig$", ".parametrizations.weight.original"),
                      (r"\.weight_u$", ".parametrizations.weight.0._u"),
                      (r"\.weight_v$", ".parametrizations.weight.0._v")]
"""torch.nn.utils.spectral_norm's names -> those of its parametrisation (same tensors)."""
DISCRIMINATOR = KeyNames(
    to_here=[(r"^model\.", "features."), (r"^gap_fc\.", "cam.classifiers.0."), (r"^gmp_fc\.", "cam.classifiers.1."),
             (r"^conv1x1\.", "cam.fuse."), (r"^conv\.", "head.1."), *SPECTRAL_NORM_HERE],
    to_there=[(r"\.parametrizations\.weight\.original$", ".weight_orig"),
              (r"\.parametrizations\.weight\.0\._u$", ".weight_u"),
              (r"\.parametrizations\.weight\.0\._v$", ".weight_v"),
              (r"^features\.", "model."), (r"^cam\.classifiers\.0\.", "gap_fc."),
              (r"^cam\.classifiers\.1\.", "gmp_fc."),
              (r"^cam\.fuse\.", "conv1x1."), (r"^head\.1\.", "conv.")],
)


def is_ugatit(file: SourceFile) -> bool:
    return isinstance(file.content, dict) and bool(set(file.content) & set(NETWORKS))


def plan_import(files: list[SourceFile]) -> ImportPlan:
    if len(files) != 1:
        raise PairlessError(f"UGATIT-pytorch keeps every network in one *_params_*.pt file; got {len(files)} files")
    file = files[0]
    content = file.content
    unknown = sorted(set(content) - set(NETWORKS))
    if unknown or not set(content) & {"genA2B", "genB2A"}:
        raise PairlessError(f"{file.path}: entries {', '.join(unknown) or 'without genA2B / genB2A'}: not a "
                            f"UGATIT-pytorch checkpoint (genA2B, genB2A, disGA, disGB, disLA, disLB)")
    plan = ImportPlan("ugatit", "", {"model.reference_code": "pytorch", "model.shared_cam_classifier": False}, [])
    for name, network in NETWORKS.items():
        if name not in content:
            continue
        state: StateDict = content[name]  # type: ignore[assignment]
        label = f"{file.path.name} [{name}]"
        found = generator_settings(state, label, network) if name.startswith("gen") else discriminator_settings(
            state, label, name)
        plan.add_settings(found, label)
        plan.networks.append(NetworkSource(network, state, GENERATOR if name.startswith("gen") else DISCRIMINATOR,
                                           label))
    plan.method = "ugatit-light" if plan.settings.pop("light") else "ugatit"
    return plan


def generator_settings(state: StateDict, source: str, network: str) -> dict[str, Any]:
    last = [key for key in state if re.fullmatch(r"UpBlock2\.\d+\.weight", key)]
    if "DownBlock.1.weight" not in state or "FC.0.weight" not in state or not last:
        raise PairlessError(f"{source}: not a UGATIT-pytorch generator (no DownBlock.1.weight / FC.0.weight)")
    first, mlp_input = weight_of(state, "DownBlock.1.weight", 4, source), weight_of(state, "FC.0.weight", 2, source)
    width, inputs = int(first.shape[0]), int(mlp_input.shape[1])
    source_channels = int(first.shape[1])
    target_channels = int(weight_of(state, max(last, key=lambda k: int(k.split(".")[1])), 4, source).shape[0])
    if network == "G_BA":
        source_channels, target_channels = target_channels, source_channels
    settings: dict[str, Any] = {
        "model.width": width, "model.n_blocks": len({k.split(".")[0] for k in state if k.startswith("UpBlock1_")}),
        "light": inputs == 4 * width, "data.channels_a": source_channels, "data.channels_b": target_channels}
    if inputs != 4 * width:
        grid = math.isqrt(inputs // (4 * width))
        if grid * grid * 4 * width != inputs:
            raise PairlessError(f"{source}: FC.0.weight has {inputs} inputs, not (image size / 4)² · {4 * width}")
        settings |= {"model.mlp_grid": grid, "data.size": 4 * grid}
    return settings


def discriminator_settings(state: StateDict, source: str, name: str) -> dict[str, Any]:
    convs = [key for key in state if re.fullmatch(r"model\.\d+\.weight_orig", key)]
    if "model.1.weight_orig" not in state or not convs:
        raise PairlessError(f"{source}: not a UGATIT-pytorch discriminator (no model.1.weight_orig)")
    kind = "global" if name.startswith("disG") else "local"
    width = int(weight_of(state, "model.1.weight_orig", 4, source).shape[0])
    return {"model.width": width, f"model.d_layers_{kind}": len(convs) + 1}
