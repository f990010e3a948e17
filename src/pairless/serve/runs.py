"""The runs one server offers (`pairless serve RUN1 RUN2 ...`): each with its name on the page, its loaded
model, its model card and its example inputs.

Examples are a few images the page offers to translate with one click: from `--examples DIR` for every run
and direction, else from the run's own test split (testA/ for AtoB, testB/ for BtoA, swapped for a run
trained with --direction BtoA) when its data folder can be found. Only images within the server's limits
are offered, so every example can be translated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pairless.checkpoint import CHECKPOINTS, WEIGHTS, resolve_checkpoint
from pairless.data.images import image_size, list_images
from pairless.errors import BadImageError, PairlessError
from pairless.serve.card import data_domain, find_data_folder, model_card
from pairless.serve.limits import MEGABYTE, ServeSettings, UploadRefused
from pairless.translator import Translator

EXAMPLES_PER_DIRECTION = 6


@dataclass
class ServedRun:
    name: str
    translator: Translator
    card: dict
    examples: dict[str, list[Path]] = field(default_factory=dict)
    """Example image files per direction."""
    examples_from: dict[str, str] = field(default_factory=dict)
    """Where each direction's examples come from, as the page says it (e.g. 'testA of horse2zebra')."""

    def public(self) -> dict:
        """What /api/runs and /api/info tell the page about this run."""
        return {"name": self.name, **self.card, "directions": list(self.translator.directions),
                "attention": self.translator.model.has_attention_maps,
                "examples": {d: [path.name for path in paths] for d, paths in self.examples.items()},
                "examples_from": self.examples_from}

    def example(self, direction: str, index: int) -> Path:
        paths = self.examples.get(direction, [])
        if not 0 <= index < len(paths):
            raise UploadRefused(f"run {self.name} has no example {index} for {direction}", 404)
        return paths[index]


def within_limits(path: Path, settings: ServeSettings) -> bool:
    try:
        width, height = image_size(path)
    except BadImageError:
        return False
    return path.stat().st_size <= settings.max_upload_bytes and width * height <= settings.max_megapixels * MEGABYTE


def first_examples(folder: Path, settings: ServeSettings, images: list[Path] | None = None) -> list[Path]:
    """The first images of `folder` (or of its listing `images`) that the server's limits accept."""
    found: list[Path] = []
    for path in list_images(folder) if images is None else images:
        if len(found) == EXAMPLES_PER_DIRECTION:
            break
        if within_limits(path, settings):
            found.append(path)
    return found


def examples_of_folder(folder: Path, settings: ServeSettings) -> list[Path]:
    """The `--examples` folder's first images within the limits (one walk, shared by every served run)."""
    if not folder.is_dir():
        raise PairlessError(f"--examples {folder}: folder not found")
    images = list_images(folder)
    if not images:
        raise PairlessError(f"--examples {folder}: the folder holds no images")
    return first_examples(folder, settings, images)


def add_test_split_examples(run: ServedRun, run_dir: Path | None, settings: ServeSettings) -> None:
    """Fill the run's examples from its data folder's test split, where it can be found."""
    cfg = run.translator.config
    data_dir = find_data_folder(cfg.data.root, run_dir)
    if data_dir is None:
        return
    for direction in run.translator.directions:
        folder = data_dir / f"test{data_domain(direction[0], cfg)}"
        if folder.is_dir():
            run.examples[direction] = first_examples(folder, settings)
            run.examples_from[direction] = f"{folder.name} of {data_dir.name}"


def served_run(translator: Translator, name: str, run_dir: Path | None, settings: ServeSettings,
               examples: tuple[Path, list[Path]] | None = None) -> ServedRun:
    """A run as the page serves it; `examples`: the `--examples` folder and its chosen images, else the
    run's test split gives them."""
    run = ServedRun(name, translator, model_card(translator.config, translator.step, translator.directions, run_dir))
    if examples is None:
        add_test_split_examples(run, run_dir, settings)
    else:
        for direction in translator.directions:
            run.examples[direction] = examples[1]
            run.examples_from[direction] = str(examples[0])
    return run


def run_name(weights: Path) -> str:
    """A run folder's name; a checkpoint other than its latest.safetensors adds its own: `h2z/best`, and a
    step-numbered one in its checkpoints/ folder `h2z/step_00005000`."""
    folder = run_folder_of(weights)
    return folder.name if weights.name == WEIGHTS else f"{folder.name}/{weights.stem}"


def run_folder_of(weights: Path) -> Path:
    """The run folder a weights file belongs to (its checkpoints/ copies are one level deeper)."""
    return weights.parent.parent if weights.parent.name == CHECKPOINTS else weights.parent


def unique_names(names: Sequence[str]) -> list[str]:
    """The names, a repeated one numbered (`h2z`, `h2z (2)`), so that the page's menu tells runs apart."""
    unique: list[str] = []
    for name in names:
        candidate, number = name, 1
        while candidate in unique:
            number += 1
            candidate = f"{name} ({number})"
        unique.append(candidate)
    return unique


def load_runs(paths: Sequence[Path], device: str, settings: ServeSettings,
              examples_dir: Path | None = None) -> list[ServedRun]:
    """Load each run folder or checkpoint once; examples come from `examples_dir` or each run's test split."""
    examples = None if examples_dir is None else (examples_dir, examples_of_folder(examples_dir, settings))
    weights = [resolve_checkpoint(path) for path in paths]
    names = unique_names([run_name(w) for w in weights])
    return [served_run(Translator.load(w, device), name, run_folder_of(w), settings, examples)
            for w, name in zip(weights, names, strict=True)]
