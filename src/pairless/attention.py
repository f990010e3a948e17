"""Attention heat-maps of models that have them (U-GAT-IT): where the generator looked, over the input.

`pairless translate CKPT IMAGES --out DIR --attention` writes one PNG per input under DIR/attention/: the
generator's CAM heat-map (channel sum of its attended features, min-max normalised per image) coloured
with the jet colour map and blended half-and-half over the input image.

With --tile, the heat-map is assembled from overlapping tiles like the translation (pairless.tiling): the
encoder's instance norms use whole-image statistics, the tiles' raw maps are blended, and the result is
normalised once over the whole image.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor

from pairless.data.images import read_image, save_image
from pairless.errors import PairlessError
from pairless.nn.ugatit import enlarge_heatmap, normalise_per_image
from pairless.tiling import translate_tiled
from pairless.translator import Translator, output_jobs

ATTENTION_FOLDER = "attention"
"""Where `translate --attention` writes the maps, inside --out."""

OVERLAY_OPACITY = 0.5


def check_attention(translator: Translator) -> None:
    if not translator.model.has_attention_maps:
        raise PairlessError(f"--attention: the '{translator.config.method}' model has no attention maps "
                            "(U-GAT-IT models have them)")


@torch.inference_mode()
def attention_maps(translator: Translator, batch: Tensor, direction: str = "AtoB", tile: int | None = None,
                   overlap: int = 64, tile_stats: str = "exact") -> Tensor:
    """[N, C, H, W] in [0, 1] -> the generator's heat-maps [N, 1, H, W] in [0, 1], any H and W.

    `tile`, `overlap` and `tile_stats` work as in `Translator.translate`.
    """
    check_attention(translator)
    model = translator.model
    model.check_direction(direction)

    def raw_heatmap(part: Tensor) -> Tensor:
        height, width = part.shape[-2:]
        padded = translator.pad(part)
        heatmap = model.translate_with_attention(padded * 2 - 1, direction).heatmap
        return enlarge_heatmap(heatmap, (padded.shape[-2], padded.shape[-1]))[..., :height, :width]

    if tile is None:
        return normalise_per_image(raw_heatmap(batch))
    return normalise_per_image(translate_tiled(raw_heatmap, model, batch, tile, overlap, model.size_multiple,
                                               translator.device, tile_stats))


def overlay(image: Tensor, heat: Tensor) -> Tensor:
    """Blend a heat-map [1, H, W] in [0, 1], coloured with the jet map, over an image [C, H, W]."""
    from matplotlib import colormaps

    colours = torch.from_numpy(colormaps["jet"](heat[0].cpu().numpy())[..., :3]).permute(2, 0, 1).float()
    rgb = image.cpu().float().expand(3, -1, -1)
    return (1 - OVERLAY_OPACITY) * rgb + OVERLAY_OPACITY * colours


def check_attention_outputs(inputs: Iterable[str | Path], out_dir: str | Path, image_format: str) -> None:
    """Refuse when an attention map would land on a translation: the translation of an input in an
    `attention/` subfolder goes where another input's map goes."""
    translations = {dst: src for src, dst in output_jobs(inputs, out_dir, f".{image_format}")}
    for source, target in output_jobs(inputs, Path(out_dir) / ATTENTION_FOLDER, ".png"):
        if target in translations:
            raise PairlessError(f"--attention would write the attention map of {source} over the translation of "
                                f"{translations[target]} ({target}); choose another --out, or translate the "
                                f"attention/ folder separately")


def write_attention_maps(translator: Translator, inputs: Iterable[str | Path], out_dir: str | Path,
                         direction: str = "AtoB", tile: int | None = None, overlap: int = 64,
                         tile_stats: str = "exact") -> list[Path]:
    """One PNG per input image (folder structure kept) under `out_dir`; returns the written paths."""
    check_attention(translator)
    channels = translator.model.input_channels(direction)
    written = []
    for source, target in output_jobs(inputs, out_dir, ".png"):
        image = read_image(source, channels)
        heat = attention_maps(translator, image[None], direction, tile, overlap, tile_stats)[0]
        save_image(overlay(image, heat), target)
        written.append(target)
    return written
