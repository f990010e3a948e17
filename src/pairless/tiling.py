"""Translating images larger than memory allows, tile by tile, without visible seams.

Two things make neighbouring tiles disagree where they meet. Each tile sees only its own pixels (the
generator's padding stands in for the neighbours), so tiles overlap and are blended with weights that fall
smoothly towards a tile's inner edges. And instance norm measures its statistics per input, so a tile of sky
and a tile of grass would be normalised differently. Every instance norm (and every layer that declares
`tile_statistics`: U-GAT-IT's AdaLIN and ILN, and its γ/β MLP, which pools its input to a grid) therefore
uses one set of statistics for the whole image:

- "exact" (default): measured on the full-resolution image, one norm layer at a time, by tiled passes that
  replay the statistics of the layers before it and stop at the measured layer. The result is close to the
  untiled translation; it costs about (number of instance norms) / 2 extra forward passes, run in tiles.
- "thumbnail": measured once on a copy of the image scaled down to a tile's area (the "thumbnail instance
  normalisation" of Chen et al., URST, AAAI 2022): one extra small pass, but the statistics are those of a
  smaller image, so the colours differ somewhat more from an untiled translation.

Only one tile is on the model's device at a time; the result is assembled on the input's device.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pairless.errors import PairlessError

TranslateFn = Callable[[Tensor], Tensor]
"""[N, C, H, W] in [0, 1] -> [N, C', H, W] in [0, 1]: the untiled translation (pads to the size multiple)."""
NORM_STATISTICS = ("exact", "thumbnail")


class ChannelMoments(NamedTuple):
    """Per-sample, per-channel spatial statistics of a whole image's feature map, as a tile's norm uses them."""

    mean: Tensor
    """[N, C, 1, 1]"""
    var: Tensor
    """[N, C, 1, 1], the population (biased) variance."""
    pixels: int
    """Pixels per channel they were measured over (for norms that use the unbiased variance)."""


def check_tiling(tile: int, overlap: int, statistics: str = "exact") -> None:
    if tile < 16:
        raise PairlessError(f"--tile must be at least 16 pixels, got {tile}")
    if overlap < 0 or 2 * overlap >= tile:
        raise PairlessError(f"--overlap must be at least 0 and less than half of --tile ({tile}), got {overlap}")
    if statistics not in NORM_STATISTICS:
        raise PairlessError(f"--tile-stats must be one of {', '.join(NORM_STATISTICS)}, got {statistics!r}")


def tile_starts(size: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Evenly spread start offsets, multiples of `multiple`, of tiles that cover [0, size).

    Every tile is `tile` long except the last, which runs to `size` (up to `multiple - 1` longer).
    Neighbours overlap by at least `overlap`. Starting on the generator's size multiple keeps every tile on
    the same down-sampling grid as the whole image.
    """
    last = max(0, size - tile) // multiple * multiple
    if last == 0:
        return [0]
    stride = max(multiple, (tile - overlap) // multiple * multiple)
    count = math.ceil(last / stride) + 1
    return [round(i * last / (count - 1) / multiple) * multiple for i in range(count)]


@dataclass(frozen=True)
class Span:
    """One tile along one axis: pixels [start, end); its core [core_start, core_end) is the part no other
    tile's core covers (the cores partition the axis, split in the middle of each overlap)."""

    start: int
    end: int
    core_start: int
    core_end: int


def spans(size: int, tile: int, overlap: int, multiple: int) -> list[Span]:
    starts = tile_starts(size, tile, overlap, multiple)
    ends = [start + tile for start in starts[:-1]] + [size]
    cuts = [0] + [(starts[i + 1] + ends[i]) // 2 // multiple * multiple for i in range(len(starts) - 1)] + [size]
    return [Span(s, e, cuts[i], cuts[i + 1]) for i, (s, e) in enumerate(zip(starts, ends, strict=True))]


def blend_ramp(span: Span, size: int, overlap: int) -> Tensor:
    """1-D weights of a tile: sin² ramps over `overlap` pixels at its edges inside the image, 1 elsewhere."""
    weights = torch.ones(span.end - span.start)
    if overlap == 0:
        return weights
    ramp = torch.sin((torch.arange(overlap) + 0.5) / overlap * math.pi / 2) ** 2
    if span.start > 0:
        weights[:overlap] = ramp
    if span.end < size:
        weights[-overlap:] = torch.minimum(weights[-overlap:], ramp.flip(0))
    return weights


def translate_tiled(translate: TranslateFn, model: nn.Module, batch: Tensor, tile: int, overlap: int,
                    multiple: int, device: torch.device, statistics: str = "exact") -> Tensor:
    """Translate `batch` [N, C, H, W] in [0, 1] in overlapping tiles; same result device as `batch`."""
    check_tiling(tile, overlap, statistics)
    height, width = batch.shape[-2:]
    if height <= tile and width <= tile:
        return translate(batch.to(device)).to(batch.device)
    rows, cols = spans(height, tile, overlap, multiple), spans(width, tile, overlap, multiple)
    norms = FixedNormStatistics(model)
    with norms.hooked():
        norms.record(translate, thumbnail(batch, tile).to(device))
        if statistics == "exact":
            norms.measure_exactly(translate, batch, rows, cols, multiple, device)
        return _blend_tiles(lambda part: norms.translate(translate, part), batch, rows, cols, overlap, device)


def _blend_tiles(translate: TranslateFn, batch: Tensor, rows: list[Span], cols: list[Span], overlap: int,
                 device: torch.device) -> Tensor:
    height, width = batch.shape[-2:]
    total: Tensor | None = None
    weight_sum = torch.zeros((height, width), device=batch.device)
    for row in rows:
        for col in cols:
            part = batch[..., row.start:row.end, col.start:col.end].to(device)
            out = translate(part).to(batch.device, torch.float32)
            weight = torch.outer(blend_ramp(row, height, overlap), blend_ramp(col, width, overlap)).to(batch.device)
            if total is None:
                total = torch.zeros((batch.shape[0], out.shape[1], height, width), device=batch.device)
            total[..., row.start:row.end, col.start:col.end] += out * weight
            weight_sum[row.start:row.end, col.start:col.end] += weight
    return cast(Tensor, total) / weight_sum


def thumbnail(batch: Tensor, tile: int) -> Tensor:
    """The batch scaled down (anti-aliased) to at most tile × tile pixels in area, aspect kept."""
    height, width = batch.shape[-2:]
    scale = min(1.0, tile / math.sqrt(height * width))
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(batch.float(), size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def per_input_layers(model: nn.Module) -> list[nn.Module]:
    """Layers whose output depends on statistics of their whole input: instance norms (those with running
    statistics use them anyway) and layers that declare `tile_statistics` (U-GAT-IT's AdaLIN, ILN and γ/β
    MLP), which take the whole image's values as a `statistics=` argument of their forward."""
    return [m for m in model.modules()
            if (isinstance(m, nn.InstanceNorm2d) and not (m.track_running_stats and m.running_mean is not None))
            or getattr(m, "tile_statistics", None) in ("moments", "grid_means")]


class _MeasuredLayerReached(Exception):
    """Ends a measuring pass: the layers after the measured one are not needed."""


class FixedNormStatistics:
    """Makes a model's per-input layers (see `per_input_layers`) use given statistics instead of each
    input's own: per-channel moments, or (U-GAT-IT's γ/β MLP) the input average-pooled to a grid.

    Statistics are kept per call: key (module, n) is the n-th call of that module within one translation,
    so a module used several times per pass gets each of its statistics back in order.
    """

    def __init__(self, model: nn.Module):
        self.layers = per_input_layers(model)
        self.stats: dict[tuple[nn.Module, int], Any] = {}
        self.calls: Counter[nn.Module] = Counter()
        self.current: dict[nn.Module, tuple[nn.Module, int]] = {}
        self.measuring: tuple[tuple[nn.Module, int], Callable[[Tensor], None]] | None = None
        self.recording = False

    def hooked(self) -> ExitStack:
        """A context manager: the hooks are in place while it is active.

        A hook before each layer counts its calls, measures, records, and hands layers that declare
        `tile_statistics` their statistics as an argument; instance norms get their output replaced after.
        """
        stack = ExitStack()
        for module in self.layers:
            stack.callback(module.register_forward_pre_hook(self._before, with_kwargs=True).remove)
            if isinstance(module, nn.InstanceNorm2d):
                stack.callback(module.register_forward_hook(self._renormalise_instance).remove)
        return stack

    def translate(self, translate: TranslateFn, images: Tensor) -> Tensor:
        self.calls.clear()
        return translate(images)

    def record(self, translate: TranslateFn, images: Tensor) -> None:
        """Keep the statistics every layer call measures on `images` (and so learn the call order)."""
        self.stats.clear()
        self.recording = True
        try:
            self.translate(translate, images)
        finally:
            self.recording = False

    def measure_exactly(self, translate: TranslateFn, batch: Tensor, rows: list[Span], cols: list[Span],
                        multiple: int, device: torch.device) -> None:
        """Replace the recorded statistics by those of the full image, layer by layer in call order."""
        order = list(self.stats)
        self.stats.clear()
        for key in order:
            module = key[0]
            height, width = batch.shape[-2], batch.shape[-1]
            accumulator = (GridMeans(pooled_grid(module), height, width, multiple) if pools_to_grid(module)
                           else Moments())
            for row in rows:
                for col in cols:
                    self.measuring = (key, partial(accumulator.add, row=row, col=col, multiple=multiple))
                    try:
                        self.translate(translate, batch[..., row.start:row.end, col.start:col.end].to(device))
                    except _MeasuredLayerReached:
                        pass
                    finally:
                        self.measuring = None
            self.stats[key] = accumulator.statistics()

    def _before(self, module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        key = (module, self.calls[module])
        self.calls[module] += 1
        self.current[module] = key
        if key in self.stats and not self.recording:
            if isinstance(module, nn.InstanceNorm2d):
                return None
            return args, {**kwargs, "statistics": self.stats[key]}
        x = args[0].float()
        if self.measuring is not None and self.measuring[0] == key:
            self.measuring[1](x)
            raise _MeasuredLayerReached
        if self.recording:
            if pools_to_grid(module):
                self.stats[key] = F.adaptive_avg_pool2d(x, pooled_grid(module))
            else:
                self.stats[key] = ChannelMoments(x.mean((-2, -1), keepdim=True),
                                                 x.var((-2, -1), unbiased=False, keepdim=True), x[0, 0].numel())
        return None

    def _renormalise_instance(self, module: nn.InstanceNorm2d, inputs: tuple[Tensor, ...], output: Tensor):
        key = self.current[module]
        if self.recording or key not in self.stats:
            return None
        return normalise_instance(module, inputs[0].float(), self.stats[key]).to(output.dtype)


def pools_to_grid(module: nn.Module) -> bool:
    """Whether the layer's statistic is its input average-pooled to `module.grid` (U-GAT-IT's γ/β MLP)
    rather than per-channel moments."""
    return getattr(module, "tile_statistics", None) == "grid_means"


def pooled_grid(module: nn.Module) -> int:
    """The side of the grid a `grid_means` layer pools its input to."""
    return cast(int, module.grid)


def normalise_instance(module: nn.InstanceNorm2d, x: Tensor, moments: ChannelMoments) -> Tensor:
    normalised = (x - moments.mean) / torch.sqrt(moments.var + module.eps)
    if module.affine:
        normalised = normalised * module.weight.view(-1, 1, 1) + module.bias.view(-1, 1, 1)
    return normalised


def feature_scale(features: Tensor, span: Span, axis: int, multiple: int) -> float:
    """Feature-map pixels per image pixel along `axis` (-2 or -1): the tile was padded to the size multiple
    before the network, so the map's scale is its length / the padded tile length."""
    return features.shape[axis] / (math.ceil((span.end - span.start) / multiple) * multiple)


def core_slice(features: Tensor, span: Span, axis: int, multiple: int) -> slice:
    """The part of a tile's feature map, along `axis`, that lies in the tile's core. The last tile's core
    runs to the end of its map: its padding is the image's own (an untiled pass pads the same edge)."""
    scale = feature_scale(features, span, axis, multiple)
    last = features.shape[axis] if span.core_end == span.end else round((span.core_end - span.start) * scale)
    return slice(round((span.core_start - span.start) * scale), last)


def tile_core(features: Tensor, row: Span, col: Span, multiple: int) -> Tensor:
    """The part of a tile's feature map [N, C, h, w] that lies in the tile's core."""
    return features[..., core_slice(features, row, -2, multiple), core_slice(features, col, -1, multiple)]


class Moments:
    """Per-sample, per-channel pixel count, sum and sum of squares (float64) over several tiles' cores."""

    def __init__(self) -> None:
        self.count = 0
        self.total: Tensor | float = 0.0
        self.squares: Tensor | float = 0.0

    def add(self, features: Tensor, row: Span, col: Span, multiple: int) -> None:
        features = tile_core(features, row, col, multiple).double()
        self.count += features.shape[-2] * features.shape[-1]
        self.total = self.total + features.sum((-2, -1), keepdim=True)
        self.squares = self.squares + features.square().sum((-2, -1), keepdim=True)

    def statistics(self) -> ChannelMoments:
        """Mean and biased variance, as instance norm computes them, in float32."""
        mean = cast(Tensor, self.total) / self.count
        var = (cast(Tensor, self.squares) / self.count - mean.square()).clamp_min(0)
        return ChannelMoments(mean.float(), var.float(), self.count)


class GridMeans:
    """`F.adaptive_avg_pool2d(feature map, grid)` of a whole image's feature map, summed from tiles' cores.

    Adaptive pooling's cell i along an axis of length L covers [floor(i L / g), ceil((i + 1) L / g)); each
    core adds its pixels to the cells they fall in (neighbouring cells may share a pixel, as in the pooling).
    """

    def __init__(self, grid: int, height: int, width: int, multiple: int):
        self.grid = grid
        self.padded = (math.ceil(height / multiple) * multiple, math.ceil(width / multiple) * multiple)
        self.total: Tensor | float = 0.0
        self.count: Tensor | float = 0.0

    def add(self, features: Tensor, row: Span, col: Span, multiple: int) -> None:
        members = []
        for axis, span, padded in ((-2, row, self.padded[0]), (-1, col, self.padded[1])):
            scale = feature_scale(features, span, axis, multiple)
            kept = core_slice(features, span, axis, multiple)
            positions = torch.arange(kept.start, kept.stop) + round(span.start * scale)
            members.append(self.cell_members(positions, round(padded * scale)).to(features.device))
        core = tile_core(features, row, col, multiple).double()
        self.total = self.total + torch.einsum("ih,nchw,jw->ncij", members[0], core, members[1])
        self.count = self.count + members[0].sum(1)[:, None] * members[1].sum(1)[None]

    def cell_members(self, positions: Tensor, length: int) -> Tensor:
        """[grid, len(positions)] float64: 1 where a position of an axis of `length` lies in the cell."""
        cells = torch.arange(self.grid)
        first, last = cells * length // self.grid, -((-(cells + 1) * length) // self.grid)
        return ((positions[None] >= first[:, None]) & (positions[None] < last[:, None])).double()

    def statistics(self) -> Tensor:
        return (self.total / torch.as_tensor(self.count).clamp_min(1)).float()
