"""Built-in synthetic unpaired data sets, one per kind of domain gap.

Every scene is drawn from its own random generator seeded by (seed, task, split, index), so
any image can be re-rendered on its own and the written folders do not depend on the order
of generation. A scene is painted twice: as domain A and as its true domain B translation.
Both paintings share the background pixel for pixel; only the objects the task changes differ.

Scenes are painted at ``_SUPERSAMPLE`` times the requested size with hard edges and reduced
with a box filter, which gives smooth anti-aliased edges at any output size.
"""

from __future__ import annotations

import colorsys
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

__all__ = ["TASKS", "TASK_DESCRIPTIONS", "render_pair", "make_synthetic_dataset"]

TASKS: tuple[str, ...] = ("stripes", "shapes", "hue")
TASK_DESCRIPTIONS: dict[str, str] = {
    "stripes": "texture: smooth-coloured blobs -> the same blobs in zebra bands that follow their outline",
    "shapes": "geometry: uniform discs -> squares of the same colour, centre and width",
    "hue": "colour: orange shaded objects -> the same objects in apple tones (red blush where lit, green "
           "in the shade), shading kept",
}

FORMAT_VERSION = 1
MIN_SIZE = 16

_SUPERSAMPLE = 4
_SPLIT_CODES = {"trainA": 0, "trainB": 1, "test": 2, "testB": 3}
_PLACEMENT_TRIES = 60
# Zebra band width as a fraction of the side, but at least 2 px so small images still resolve it.
_BAND_WIDTH = 1 / 24
_MIN_BAND_PIXELS = 2.0
_DARK_BAND = np.array([0.07, 0.07, 0.08], np.float32)
_LIGHT_BAND = np.array([0.94, 0.93, 0.90], np.float32)

Grid = tuple[np.ndarray, np.ndarray]
"""Sample-centre coordinates in output pixels: x of shape (1, S) and y of shape (S, 1)."""


def _hsv(hue_degrees: float, saturation: float, value: float) -> np.ndarray:
    """An RGB colour in [0, 1], rounded to an 8-bit level so flat areas keep it exactly in a PNG."""
    rgb = colorsys.hsv_to_rgb((hue_degrees % 360) / 360, saturation, value)
    return (np.round(np.array(rgb) * 255) / 255).astype(np.float32)


def _pure_hue(hue_degrees: float) -> np.ndarray:
    """The fully saturated, full-value colour of a hue."""
    return np.array(colorsys.hsv_to_rgb((hue_degrees % 360) / 360, 1.0, 1.0), np.float32)


@dataclass(frozen=True)
class _Ellipse:
    cx: float
    cy: float
    a: float
    b: float
    angle: float

    def local(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        """Grid coordinates in the ellipse's own frame (u along the a axis)."""
        x, y = grid
        dx, dy = x - self.cx, y - self.cy
        cos, sin = np.cos(self.angle), np.sin(self.angle)
        return dx * cos + dy * sin, dy * cos - dx * sin

    def inside(self, grid: Grid) -> np.ndarray:
        u, v = self.local(grid)
        return (u / self.a) ** 2 + (v / self.b) ** 2 <= 1


def _ellipse_edge_distance(u: np.ndarray, v: np.ndarray, a: float, b: float) -> np.ndarray:
    """Euclidean distance from points in an ellipse's frame to its outline.

    Iterates on the closest outline point: each step moves the guess along the circle of
    curvature centred on the evolute, which converges in a few steps everywhere.
    """
    pu, pv = np.abs(u), np.abs(v)
    tu = np.full(np.broadcast(pu, pv).shape, np.sqrt(0.5), np.float32)
    tv = tu.copy()
    for _ in range(4):
        eu = (a * a - b * b) * tu**3 / a
        ev = (b * b - a * a) * tv**3 / b
        reach = np.hypot(a * tu - eu, b * tv - ev)
        qu, qv = pu - eu, pv - ev
        scale = reach / np.maximum(np.hypot(qu, qv), 1e-9)
        tu = np.clip((qu * scale + eu) / a, 0, 1)
        tv = np.clip((qv * scale + ev) / b, 0, 1)
        norm = np.maximum(np.hypot(tu, tv), 1e-9)
        tu, tv = tu / norm, tv / norm
    return np.hypot(pu - a * tu, pv - b * tv)


@dataclass(frozen=True)
class _StripedBlob:
    """A: an ellipse shaded between two related colours. B: dark/light bands inset from its edge."""

    shape: _Ellipse
    near: np.ndarray
    far: np.ndarray
    direction: tuple[float, float]
    band_width: float

    def footprint(self, grid: Grid) -> np.ndarray:
        return self.shape.inside(grid)

    def paint(self, canvas: np.ndarray, grid: Grid, domain: str) -> None:
        mask = self.footprint(grid)
        if domain == "A":
            x, y = (np.broadcast_to(c, mask.shape)[mask] for c in grid)
            along = (x - self.shape.cx) * self.direction[0] + (y - self.shape.cy) * self.direction[1]
            t = np.clip(0.5 + 0.5 * along / self.shape.a, 0, 1)[:, None]
            canvas[mask] = self.near + (self.far - self.near) * t
        else:
            u, v = (c[mask] for c in self.shape.local(grid))
            band = np.floor(_ellipse_edge_distance(u, v, self.shape.a, self.shape.b) / self.band_width)
            canvas[mask] = np.where((band % 2 == 0)[:, None], _DARK_BAND, _LIGHT_BAND)


@dataclass(frozen=True)
class _Disc:
    """A: a uniform disc. B: the axis-aligned square with the disc's centre, width and colour."""

    cx: float
    cy: float
    radius: float
    colour: np.ndarray

    def footprint(self, grid: Grid) -> np.ndarray:
        x, y = grid
        return (np.abs(x - self.cx) <= self.radius) & (np.abs(y - self.cy) <= self.radius)

    def paint(self, canvas: np.ndarray, grid: Grid, domain: str) -> None:
        x, y = grid
        if domain == "A":
            mask = (x - self.cx) ** 2 + (y - self.cy) ** 2 <= self.radius**2
        else:
            mask = self.footprint(grid)
        canvas[mask] = self.colour


def _hue_a(t: float) -> float:
    return 20 + 25 * t


_GREEN = _pure_hue(110)
_BLUSH_EDGE = 0.2
"""Half-width (in diffuse-light units) of the red-to-green transition on a domain-B object."""


_BLUSH_THRESHOLD = 0.6


def _apple_tone(diffuse: np.ndarray, t: float) -> np.ndarray:
    """Domain-B colour of each sample: a red blush where the light falls strongly, green in the shade.

    The split follows the light the A pixel shows (its brightness) and the red shade follows the
    object's orange tone t, so B is a fixed function of each A pixel: one output per input.
    """
    w = np.clip((diffuse - _BLUSH_THRESHOLD) / (2 * _BLUSH_EDGE) + 0.5, 0, 1)
    w = w * w * (3 - 2 * w)
    tone = w * _pure_hue(350 + 15 * t) + (1 - w) * _GREEN
    return tone / tone.max(axis=-1, keepdims=True)  # full value, so the A shading carries over unchanged


@dataclass(frozen=True)
class _ShadedBall:
    """An ellipse lit like a sphere. In A it is orange (tone t); in B it has the same shading in
    apple colours: a red blush where the light falls, green elsewhere."""

    shape: _Ellipse
    t: float
    saturation: float
    light: np.ndarray

    def footprint(self, grid: Grid) -> np.ndarray:
        return self.shape.inside(grid)

    def paint(self, canvas: np.ndarray, grid: Grid, domain: str) -> None:
        mask = self.footprint(grid)
        saturation, value, diffuse = self._shading(*(c[mask] for c in self.shape.local(grid)))
        tone = _pure_hue(_hue_a(self.t)) if domain == "A" else _apple_tone(diffuse, self.t)
        canvas[mask] = value * ((1 - saturation) + saturation * tone)

    def _shading(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-sample HSV saturation, value and diffuse light of a sphere-like body, as (N, 1) columns."""
        nu, nv = u / self.shape.a, v / self.shape.b
        cos, sin = np.cos(self.shape.angle), np.sin(self.shape.angle)
        nx, ny = nu * cos - nv * sin, nu * sin + nv * cos
        nz = np.sqrt(np.clip(1 - nx**2 - ny**2, 0, 1))
        diffuse = np.clip(nx * self.light[0] + ny * self.light[1] + nz * self.light[2], 0, 1)
        half = self.light + np.array([0, 0, 1], np.float32)
        half /= np.linalg.norm(half)
        specular = np.clip(nx * half[0] + ny * half[1] + nz * half[2], 0, 1) ** 24
        saturation = self.saturation * (1 - 0.7 * specular)
        value = np.clip(0.32 + 0.6 * diffuse + 0.3 * specular, 0, 1)
        return saturation[:, None], value[:, None], diffuse[:, None]


def _place(rng: np.random.Generator, radii: list[float], size: int) -> list[tuple[float, float, float]]:
    """Centres for objects of the given bounding radii, inside the image and not touching.

    Bounding squares are kept apart, so neither discs nor the squares grown from them overlap.
    An object that finds no room is dropped; the first one always fits.
    """
    margin, gap = 1.0, max(1.5, 0.03 * size)
    placed: list[tuple[float, float, float]] = []
    for radius in sorted(radii, reverse=True):
        for _ in range(_PLACEMENT_TRIES):
            cx, cy = rng.uniform(radius + margin, size - radius - margin, 2)
            if all(max(abs(cx - px), abs(cy - py)) >= radius + pr + gap for px, py, pr in placed):
                placed.append((float(cx), float(cy), radius))
                break
    return placed


def _draw_ellipses(rng: np.random.Generator, size: int, min_ratio: float,
                   majors: tuple[float, float] = (0.12, 0.2)) -> list[_Ellipse]:
    """1-3 non-touching rotated ellipses, semi-major axes in `majors` (fractions of the side)."""
    radii = [rng.uniform(*majors) * size for _ in range(rng.integers(1, 4))]
    shapes = []
    for cx, cy, a in _place(rng, radii, size):
        b = rng.uniform(max(0.1 * size, min_ratio * a), 0.9 * a)
        shapes.append(_Ellipse(cx, cy, a, b, rng.uniform(0, np.pi)))
    return shapes


def _draw_stripes(rng: np.random.Generator, size: int) -> list[_StripedBlob]:
    band_width = max(_BAND_WIDTH * size, _MIN_BAND_PIXELS)
    blobs = []
    for shape in _draw_ellipses(rng, size, min_ratio=0.5):
        hue, saturation = rng.uniform(0, 360), rng.uniform(0.4, 0.8)
        value = rng.uniform(0.55, 0.9)
        near = _hsv(hue, saturation, value)
        far = _hsv(hue + rng.uniform(-25, 25), saturation, value * rng.uniform(0.5, 0.75))
        angle = rng.uniform(0, 2 * np.pi)
        direction = (float(np.cos(angle)), float(np.sin(angle)))
        blobs.append(_StripedBlob(shape, near, far, direction, band_width))
    return blobs


def _draw_shapes(rng: np.random.Generator, size: int) -> list[_Disc]:
    radii = [rng.uniform(0.08, 0.16) * size for _ in range(rng.integers(1, 4))]
    return [
        _Disc(cx, cy, r, _hsv(rng.uniform(0, 360), rng.uniform(0.5, 0.9), rng.uniform(0.55, 0.95)))
        for cx, cy, r in _place(rng, radii, size)
    ]


def _draw_hue(rng: np.random.Generator, size: int) -> list[_ShadedBall]:
    azimuth = rng.uniform(0, 2 * np.pi)
    light = np.array([0.6 * np.cos(azimuth), 0.6 * np.sin(azimuth), 0.8], np.float32)
    return [
        _ShadedBall(shape, float(rng.uniform()), float(rng.uniform(0.65, 0.95)), light)
        for shape in _draw_ellipses(rng, size, min_ratio=0.7, majors=(0.24, 0.38))
    ]


_DRAWERS: dict[str, Callable[[np.random.Generator, int], list]] = {
    "stripes": _draw_stripes, "shapes": _draw_shapes, "hue": _draw_hue}


@dataclass(frozen=True)
class _Palette:
    """Fixed colours of a task's backdrop: an upper region (lighter towards the horizon) over a textured
    lower one. Only the layout varies between scenes, so the backdrop's colours can be inferred from its
    structure: generators with instance norm, which discards absolute colour, can still reproduce it."""

    top: np.ndarray
    horizon: np.ndarray
    ground: np.ndarray


_PALETTES = {
    "stripes": _Palette(_hsv(205, 0.40, 0.80), _hsv(200, 0.18, 0.95), _hsv(95, 0.40, 0.50)),
    "shapes": _Palette(_hsv(205, 0.40, 0.80), _hsv(200, 0.18, 0.95), _hsv(95, 0.40, 0.50)),
    # greys and blues only, so the orange/red/green objects are the only thing that changes
    "hue": _Palette(_hsv(220, 0.16, 0.62), _hsv(215, 0.08, 0.82), _hsv(210, 0.20, 0.40)),
}


def _background(rng: np.random.Generator, grid: Grid, size: int, task: str) -> np.ndarray:
    """A tilted horizon at a random height; above, a vertical gradient; below, gentle wavy texture."""
    palette = _PALETTES[task]
    x, y = grid
    tilt = np.tan(np.deg2rad(rng.uniform(-12, 12)))
    horizon = rng.uniform(0.35, 0.7) * size + (x - size / 2) * tilt
    height = np.clip((horizon - y) / size, 0, None)[..., None]
    sky = palette.horizon + (palette.top - palette.horizon) * np.clip(height / 0.5, 0, 1)
    wave_angle, cycles = rng.uniform(0, np.pi), rng.uniform(2, 4)
    phase = (x * np.cos(wave_angle) + y * np.sin(wave_angle)) * (2 * np.pi * cycles / size)
    texture = 1 + 0.05 * np.sin(phase + rng.uniform(0, 2 * np.pi))
    ground = palette.ground * texture[..., None]
    canvas = np.where((y < horizon)[..., None], sky, ground)
    return np.clip(canvas, 0, 1).astype(np.float32)


def _grid(size: int) -> Grid:
    coords = ((np.arange(size * _SUPERSAMPLE) + 0.5) / _SUPERSAMPLE).astype(np.float32)
    return coords[None, :], coords[:, None]


@dataclass(frozen=True)
class _Scene:
    size: int
    background: np.ndarray
    objects: list


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _check_task(task: str) -> None:
    _require(task in TASKS, f"unknown synthetic task {task!r}; valid tasks: {', '.join(TASKS)}")


def _check_size(size: int) -> None:
    _require(size >= MIN_SIZE, f"size must be at least {MIN_SIZE} pixels, got {size}")


def _draw_scene(task: str, seed: int, split: str, index: int, size: int) -> _Scene:
    """The scene's own generator mixes in the task and split codes: never reorder them."""
    _check_task(task)
    _check_size(size)
    _require(split in _SPLIT_CODES, f"unknown split {split!r}; valid splits: {', '.join(_SPLIT_CODES)}")
    _require(seed >= 0, f"seed must be non-negative, got {seed}")
    _require(index >= 0, f"index must be non-negative, got {index}")
    entropy = [seed, TASKS.index(task), _SPLIT_CODES[split], index]
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    background = _background(rng, _grid(size), size, task)
    return _Scene(size, background, _DRAWERS[task](rng, size))


def _box_reduce(samples: np.ndarray, size: int, reduce: Callable) -> np.ndarray:
    """Reduces each SUPERSAMPLE x SUPERSAMPLE block of samples to one output pixel."""
    blocks = samples.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE, *samples.shape[2:])
    return reduce(blocks, axis=(1, 3))


def _paint(scene: _Scene, domain: str) -> np.ndarray:
    canvas = scene.background.copy()
    grid = _grid(scene.size)
    for obj in scene.objects:
        obj.paint(canvas, grid, domain)
    pixels = _box_reduce(canvas, scene.size, np.mean)
    return np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8)


def _change_region(task: str, seed: int, split: str, index: int, size: int) -> np.ndarray:
    """Boolean size x size mask of the pixels the task may change; all others match in A and B."""
    scene = _draw_scene(task, seed, split, index, size)
    grid = _grid(size)
    region = np.zeros((size * _SUPERSAMPLE,) * 2, bool)
    for obj in scene.objects:
        region |= obj.footprint(grid)
    return _box_reduce(region, size, np.any)


def render_pair(task: str, seed: int, split: str, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The A rendering and the true B rendering of one scene: two HxWx3 uint8 arrays.

    ``split`` is one of "trainA", "trainB", "test" and "testB"; each split draws its own
    independent scenes, so e.g. trainA and trainB scenes of the same index are unrelated.
    """
    scene = _draw_scene(task, seed, split, index, size)
    return _paint(scene, "A"), _paint(scene, "B")


def _layout(count: int, test_count: int) -> list[tuple[str, int, dict[str, str]]]:
    """(split, number of scenes, folder per domain rendered) for each part of the data set."""
    return [
        ("trainA", count, {"A": "trainA"}),
        ("trainB", count, {"B": "trainB"}),
        ("test", test_count, {"A": "testA", "B": "testA_gt"}),
        ("testB", test_count, {"B": "testB"}),
    ]


def _refuse_existing(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; refusing to overwrite it")


def _publish(staging: Path, out: Path) -> None:
    """Moves the finished data set into place, synth.json last as the mark of completeness."""
    if not out.is_dir():
        staging.rename(out)
        return
    for child in sorted(staging.iterdir(), key=lambda path: path.name == "synth.json"):
        child.rename(out / child.name)
    staging.rmdir()


def make_synthetic_dataset(
    task: str,
    out: str | Path,
    count: int = 500,
    test_count: int | None = None,
    size: int = 64,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Writes the CycleGAN layout under out and returns out as a Path.

    Folders: trainA, trainB, testA, testB and testA_gt (the true B of each testA image, for
    evaluation only), plus synth.json. The files are written to a hidden sibling folder and
    moved into ``out`` at the end, so ``out`` never holds a half-written data set.
    ``progress(done, total)`` is called after each scene.
    """
    _check_task(task)
    _require(count >= 1, f"count must be at least 1, got {count}")
    _check_size(size)
    _require(seed >= 0, f"seed must be non-negative, got {seed}")
    test_count = max(8, count // 10) if test_count is None else test_count
    _require(test_count >= 1, f"test_count must be at least 1, got {test_count}")
    out = Path(out)
    _refuse_existing(out)

    layout = _layout(count, test_count)
    total = sum(n for _, n, _ in layout)
    target = out.resolve()
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    staging.mkdir(parents=True)
    try:
        done = 0
        for split, n, folders in layout:
            for folder in folders.values():
                (staging / folder).mkdir()
            for index in range(n):
                scene = _draw_scene(task, seed, split, index, size)
                for domain, folder in folders.items():
                    Image.fromarray(_paint(scene, domain)).save(staging / folder / f"{index:06d}.png")
                done += 1
                if progress is not None:
                    progress(done, total)
        info = {"format_version": FORMAT_VERSION, "task": task, "seed": int(seed), "count": int(count),
                "test_count": int(test_count), "size": int(size)}
        (staging / "synth.json").write_text(json.dumps(info, indent=2) + "\n")
        _refuse_existing(out)
        _publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
