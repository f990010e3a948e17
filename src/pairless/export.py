"""Exporting a trained translator for use without pairless: ONNX (onnxruntime and friends) or TorchScript.

The exported graph does what `Translator.translate_tensor` does: it takes float32 images [N, C, H, W] in
[0, 1] (C = the source domain's channels, any N; H and W of at least 8 px and the generator's size multiple),
pads them to that multiple (reflect), translates, crops back and returns [N, C', H, W] in [0, 1]. Height,
width and batch size are dynamic.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pairless.errors import PairlessError
from pairless.models.base import TranslationModel
from pairless.train.checkpoint import atomic_write
from pairless.translator import MIN_NETWORK_SIDE, Translator

EXPORT_FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": "onnx", "torchscript": "pt"}
INPUT_NAME, OUTPUT_NAME = "image", "translated"
MAX_SIDE = 16384
"""Only bounds what the exporter reasons about: the ONNX graph itself has symbolic sizes, no maximum."""


class TranslationGraph(nn.Module):
    """One direction of a model as a pure function of [0, 1] images (what gets exported)."""

    def __init__(self, model: TranslationModel, direction: str):
        super().__init__()
        model.check_direction(direction)
        self.model = model.eval()
        self.direction = direction
        self.multiple = model.size_multiple

    def forward(self, images: Tensor) -> Tensor:
        height, width = images.shape[-2:]
        padded = F.pad(images, (0, -width % self.multiple, 0, -height % self.multiple), mode="reflect")
        out = self.model.translate(padded * 2 - 1, self.direction)
        return ((out[..., :height, :width] + 1) / 2).clamp(0, 1)


def export_model(checkpoint: str | Path, out: str | Path, export_format: str = "onnx",
                 direction: str = "AtoB") -> Path:
    """Write one direction of a checkpoint's model to `out` as ONNX or TorchScript; returns `out`."""
    if export_format not in EXPORT_FORMATS:
        raise PairlessError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {export_format!r}")
    translator = Translator.load(checkpoint, "cpu")
    model, config, step = translator.model, translator.config, translator.step
    graph = TranslationGraph(model, direction)
    sample = torch.rand(1, model.input_channels(direction), 12 * graph.multiple, 16 * graph.multiple)
    out = Path(out)
    if out.is_dir():
        example = out / f"model.{SUFFIXES[export_format]}"
        raise PairlessError(f"--out {out} is a folder; name the file to write, e.g. --out {example}")
    if export_format == "onnx":
        data = _onnx_bytes(graph, sample, {"pairless.method": config.method, "pairless.step": str(step),
                                           "pairless.direction": direction})
    else:
        data = _torchscript_bytes(graph, sample)
    atomic_write(out, data)
    return out


def _onnx_bytes(graph: TranslationGraph, sample: Tensor, metadata: dict[str, str]) -> bytes:
    side = {"min": max(graph.multiple, MIN_NETWORK_SIDE), "max": MAX_SIDE}
    shapes = {"images": {0: torch.export.Dim("batch", max=4096), 2: torch.export.Dim("height", **side),
                         3: torch.export.Dim("width", **side)}}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(graph, (sample,), dynamo=True, dynamic_shapes=shapes, verbose=False,
                                    input_names=[INPUT_NAME], output_names=[OUTPUT_NAME])
    proto = program.model_proto
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    return proto.SerializeToString()


def _torchscript_bytes(graph: TranslationGraph, sample: Tensor) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():  # tracer notes; the tests check other sizes
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(graph, sample), buffer)
    return buffer.getvalue()
