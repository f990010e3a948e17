"""The model card the page shows for a served run: what the model is, what it learned from, how it scored.

Everything comes from the checkpoint's config and, where they can be found, the run folder (RUN/eval/*/eval.json
written by `pairless evaluate`, the eval entries of metrics.jsonl written by `--eval-every`) and the data
folder (domain names, image counts). A piece that is missing or unreadable is left out: the card is there to
inform, never to stop the server.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from pairless.config import RunConfig
from pairless.data.images import list_images
from pairless.metrics_file import read_records

DOMAIN_PAIR = re.compile(r"^([^\W\d_][^2]*)2([^\W\d_].*)$")
"""A data folder named like horse2zebra or summer2winter_yosemite names its two domains."""
DEFAULT_DOMAINS = ("A", "B")


def find_data_folder(root: str, run_dir: Path | None) -> Path | None:
    """The run's data folder if it can be found: as stored (relative to the working folder when relative),
    else relative to the run folder or the two folders above it (a relative --data is stored as typed)."""
    if not root:
        return None
    bases = [Path.cwd()] + ([run_dir, *run_dir.resolve().parents[:2]] if run_dir is not None else [])
    candidates = [Path(root).expanduser()] if Path(root).is_absolute() else [base / root for base in bases]
    return next((c for c in candidates if (c / "trainA").is_dir() or (c / "testA").is_dir()), None)


def dataset_name(cfg: RunConfig, data_dir: Path | None) -> str | None:
    if cfg.data.single_image and cfg.data.data_a:
        return f"{Path(cfg.data.data_a).name} + {Path(cfg.data.data_b).name}"
    name = Path(cfg.data.root).name if cfg.data.root else ""
    if name in ("", ".", "..") and data_dir is not None:
        name = data_dir.resolve().name
    return name or None


def domain_names(cfg: RunConfig, data_dir: Path | None) -> tuple[str, str]:
    """Names of the data set's domains A and B: the images' names for single-image training, the folders that
    trainA/ and trainB/ link to when those have other names, the halves of a folder named like horse2zebra,
    else A and B."""
    if cfg.data.single_image and cfg.data.data_a:
        return Path(cfg.data.data_a).stem, Path(cfg.data.data_b).stem
    if data_dir is not None:
        linked = tuple((data_dir / f"train{domain}").resolve().name for domain in DEFAULT_DOMAINS)
        if linked[0] != linked[1] and not {"trainA", "trainB"} & set(linked):
            return linked[0], linked[1]
    match = DOMAIN_PAIR.match(dataset_name(cfg, data_dir) or "")
    return (match.group(1), match.group(2)) if match else DEFAULT_DOMAINS


def data_domain(model_domain: str, cfg: RunConfig) -> str:
    """The data set's domain ('A' or 'B') that the model's domain stands for: a run trained with --direction
    BtoA swapped them."""
    swapped = cfg.data.direction == "BtoA"
    return {"A": "B", "B": "A"}[model_domain] if swapped else model_domain


def direction_labels(cfg: RunConfig, directions: tuple[str, ...], data_dir: Path | None) -> dict[str, str]:
    """{'AtoB': 'horse → zebra', ...} for the model's directions."""
    names = dict(zip(DEFAULT_DOMAINS, domain_names(cfg, data_dir), strict=True))
    labels = {}
    for direction in directions:
        source, target = direction[0], direction[-1]
        labels[direction] = f"{names[data_domain(source, cfg)]} → {names[data_domain(target, cfg)]}"
    return labels


def training_images(cfg: RunConfig, data_dir: Path | None) -> list[dict]:
    """How many images each of the data set's training folders holds, with the domain's name."""
    if data_dir is None or cfg.data.single_image:
        return []
    names = domain_names(cfg, data_dir)
    counts = []
    for domain, name in zip(DEFAULT_DOMAINS, names, strict=True):
        folder = data_dir / f"train{domain}"
        if folder.is_dir():
            counts.append({"domain": name, "folder": folder.name, "count": len(list_images(folder))})
    return counts


def read_json_object(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def score_rows(metrics: dict) -> list[list[str]]:
    """[label, value] rows in `pairless evaluate`'s reading order, numbers only."""
    from pairless.eval.evaluate import metric_rows

    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    if "mode_collapse" in numbers:  # a yes/no that training logs as 0.0 / 1.0
        numbers["mode_collapse"] = bool(numbers["mode_collapse"])
    return [[label, value] for label, value in metric_rows(numbers)]


def evaluate_scores(run_dir: Path) -> list[dict]:
    """One entry per RUN/eval/*/eval.json."""
    entries = []
    for path in sorted(run_dir.glob("eval/*/eval.json")):
        record = read_json_object(path)
        if record is None or not isinstance(record.get("metrics"), dict):
            continue
        settings = record["settings"] if isinstance(record.get("settings"), dict) else {}
        entries.append({"source": f"pairless evaluate ({path.parent.name})", "step": record.get("step"),
                        "direction": settings.get("direction"), "split": settings.get("split"),
                        "rows": score_rows(record["metrics"])})
    return entries


def training_scores(run_dir: Path) -> list[dict]:
    """The last evaluation logged while training (--eval-every), if any; torn or foreign lines are skipped."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    evaluations = [record for record in read_records(path, strict=False) if record.get("eval")]
    if not evaluations:
        return []
    last = evaluations[-1]
    return [{"source": "--eval-every, while training", "step": last.get("step"), "direction": "AtoB",
             "split": "test", "rows": score_rows(last["eval"])}]


def model_card(cfg: RunConfig, step: int, directions: tuple[str, ...], run_dir: Path | None) -> dict:
    """The card's facts as JSON-ready values."""
    data_dir = find_data_folder(cfg.data.root, run_dir)
    scores = evaluate_scores(run_dir) + training_scores(run_dir) if run_dir is not None else []
    return {"method": cfg.method, "step": step, "crop_size": cfg.data.size, "dataset": dataset_name(cfg, data_dir),
            "data_found": data_dir is not None, "direction_labels": direction_labels(cfg, directions, data_dir),
            "training_images": training_images(cfg, data_dir), "scores": [s for s in scores if s["rows"]]}
