"""`pairless bench`: every method on every data set at the same budget, in one comparison table.

The data sets are built-in tasks (generated under the output folder, with ground truth for the pixel
scores) and/or folders in the CycleGAN layout (trainA/trainB/testA/testB; pixel scores only where a
testA_gt/ folder holds the true B image of each testA image). Runs are kept under the output folder, so a
bench that was stopped continues where it was (finished runs are not trained again) and a larger --steps
resumes them.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from pairless.checkpoint import holds_saved_run
from pairless.config import RunConfig
from pairless.data.synthetic import make_synthetic_dataset
from pairless.devices import resolve_device
from pairless.errors import PairlessError, StoppedBySignal
from pairless.eval.domain import LocalFeatures, domain_classifier_for
from pairless.eval.evaluate import COLLAPSE_THRESHOLD, ImageFeatures, SplitFolders, compare_sets, split_folders
from pairless.eval.imageset import folder_paths, load_image_set
from pairless.eval.paired import score_folders
from pairless.metrics_file import read_records
from pairless.models.base import TranslationModel
from pairless.models.registry import get_method
from pairless.train.loop import train
from pairless.translator import Translator, translate_paths

COLUMNS = ("task", "model", "seed", "steps", "l1", "psnr", "ssim", "fid_local", "kid_local", "domain_score",
           "diversity", "diversity_pixels", "mode_collapse", "it_per_s")


def bench_config(model: str, data_dir: Path, steps: int, size: int, width: int, device: str,
                 options: dict[str, str], seed: int = 0) -> RunConfig:
    """The method's preset at the bench's size, width, budget and training seed, plus the options it has."""
    cfg = RunConfig.defaults(model)
    own = {key: value for key, value in options.items() if has_option(cfg, key)}
    return cfg.override({
        "data.root": str(data_dir), "data.size": size, "data.load_size": size, "data.workers": 1,
        "model.width": width, "train.steps": steps, "train.device": device, "train.seed": seed,
        "train.log_every": 100,
        "train.sample_every": max(steps // 4, 1), "train.save_every": max(steps // 4, 1), **own,
    })


def has_option(cfg: RunConfig, key: str) -> bool:
    try:
        cfg.locate(key)
        return True
    except PairlessError:
        return False


def is_switch_in_any(models: list[str], option: str) -> bool:
    """Whether `option` is on/off in one of the models' configs (then `--option` needs no value)."""
    configs = [RunConfig.defaults(model) for model in models]
    return any(has_option(cfg, option) and cfg.is_switch(option) for cfg in configs)


def check_options(models: list[str], options: dict[str, str]) -> None:
    """Each option must belong to at least one of the models (else: the usual 'did you mean' error)."""
    configs = [RunConfig.defaults(model) for model in models]
    for key in options:
        if not any(has_option(cfg, key) for cfg in configs):
            configs[0].locate(key)


def check_models(models: list[str]) -> None:
    """Bench trains translators on unpaired data sets: not class-conditional generators (they would take the
    trainA/trainB folders for classes) nor single-image methods."""
    for model in models:
        spec = get_method(model)
        if not issubclass(spec.model_class, TranslationModel) or spec.model_class.data_kind != "unpaired":
            raise PairlessError(f"--models {model}: {model} generates images of classes rather than translating "
                                f"between two domains; bench compares translators (e.g. cut,fastcut,cyclegan)")
        if RunConfig.defaults(model).data.single_image:
            raise PairlessError(f"--models {model}: {model} trains on one image per domain; bench compares methods "
                                f"on data sets of many (train it with --data-a and --data-b instead)")


def task_data(out: Path, task: str, size: int, count: int, seed: int) -> Path:
    """The task's data set under out/data, generated once and reused while its parameters match."""
    folder = out / "data" / f"{task}_{size}px_{count}_seed{seed}"
    if not (folder / "synth.json").is_file():
        make_synthetic_dataset(task, folder, count=count, size=size, seed=seed)
    return folder


def check_data_folder(folder: Path) -> None:
    missing = [name for name in ("trainA", "trainB", "testA", "testB") if not (folder / name).is_dir()]
    if missing:
        raise PairlessError(f"--data {folder}: no {', '.join(m + '/' for m in missing)} folder(s) "
                            "(expected the CycleGAN layout: trainA, trainB, testA, testB)")


def train_to(cfg: RunConfig, run_dir: Path) -> None:
    """Train, resume an unfinished run, or keep a finished one."""
    resume = holds_saved_run(run_dir)
    result = train(cfg, run_dir, resume=resume, quiet=True)
    if result.interrupted:
        raise StoppedBySignal(result.stop_signal)


def last_rate(run_dir: Path) -> float:
    """The training speed of the last log record (evaluation records carry none)."""
    rates = [record["it_per_s"] for record in read_records(run_dir / "metrics.jsonl", strict=False)
             if "it_per_s" in record]
    return rates[-1] if rates else float("nan")


def run_bench(tasks: list[str], models: list[str], steps: int, out: str | Path, size: int = 64,
              width: int = 16, count: int = 500, seed: int = 0, device: str = "auto",
              options: dict[str, str] | None = None, log=print, data: Sequence[Path] = (),
              seeds: Sequence[int] = (0,), progress=None) -> list[dict]:
    """Rows of the table for the built-in `tasks` and then the `data` folders (named by their folder):
    one per model and training seed in `seeds` (`seed` is the seed of the generated task data).
    `progress(done, total)` counts the runs."""
    out = Path(out)
    options = options or {}
    check_options(models, options)
    check_models(models)
    for model in models:  # every run's settings, checked before any work (e.g. --steps 0)
        bench_config(model, out, steps, size, width, device, options)
    for folder in data:
        check_data_folder(Path(folder))
    datasets = [(task, task_data(out, task, size, count, seed)) for task in tasks]
    datasets += [(Path(folder).resolve().name, Path(folder)) for folder in data]
    names = [name for name, _ in datasets]
    if len(set(names)) < len(names):
        raise PairlessError(f"two data sets are named {max(names, key=names.count)!r} "
                            "(runs go to OUT/<name>/<model>): rename a --data folder")
    rows, runs = [], len(datasets) * len(models) * len(seeds)
    for name, data_dir in datasets:
        judge = domain_classifier_for(data_dir, resolve_device(device), log=log)
        test = split_folders(data_dir, "test", "AtoB")
        target = ImageFeatures.of(load_image_set(folder_paths(test.target), size), judge, None)  # once per data set
        inputs = folder_paths(test.source)
        rows.append({"task": name, "model": "input unchanged", "seed": "", "steps": 0, "it_per_s": "",
                     **_scores(_pixel_scores(test, test.source, inputs), _offline_scores(inputs, target, judge, size))})
        for model in models:
            for train_seed in seeds:
                run_dir = out / name / f"{model}-seed{train_seed}"
                log(f"{name} / {model} / seed {train_seed}: training {steps} steps in {run_dir}")
                train_to(bench_config(model, data_dir, steps, size, width, device, options, train_seed), run_dir)
                written = translate_paths(Translator.load(run_dir, device), [test.source], run_dir / "translated")
                scores = _scores(_pixel_scores(test, run_dir / "translated", written),
                                 _offline_scores(written, target, judge, size))
                rows.append({"task": name, "model": model, "seed": train_seed, "steps": steps, **scores,
                             "it_per_s": round(last_rate(run_dir), 2)})
                pixels = f"L1 {scores['l1']:.4f}  PSNR {scores['psnr']:.2f} dB  " if scores["l1"] is not None else ""
                log(f"{name} / {model} / seed {train_seed}: {pixels}FID-local {scores['fid_local']:.2f}  "
                    f"domain score {scores['domain_score']:.2f}  diversity {scores['diversity']:.2f}")
                if progress:
                    progress(sum(row["model"] != "input unchanged" for row in rows), runs)
    write_tables(rows, out)
    return rows


def _pixel_scores(test: SplitFolders, predictions: Path, files: list[Path]) -> dict | None:
    """L1/PSNR/SSIM of `files` in `predictions` against the ground truth, where the data set has one."""
    return None if test.truth is None else score_folders(predictions, test.truth, only=files)


def _offline_scores(images: list[Path], target: ImageFeatures, judge: LocalFeatures, size: int) -> dict:
    return compare_sets(ImageFeatures.of(load_image_set(images, size), judge, None), target, judge, "B")


def _scores(truth: dict | None, offline: dict) -> dict:
    pixels = {"l1": None, "psnr": None, "ssim": None} if truth is None else {
        "l1": round(truth["l1"], 4), "psnr": round(truth["psnr"], 2), "ssim": round(truth["ssim"], 3)}
    return {**pixels, "fid_local": round(offline["fid_local"], 2), "kid_local": round(offline["kid_local"], 4),
            "domain_score": round(offline["domain_score"], 2), "diversity": round(offline["diversity"], 2),
            "diversity_pixels": round(offline["diversity_pixels"], 2), "mode_collapse": offline["mode_collapse"]}


def write_tables(rows: list[dict], out: Path) -> None:
    with open(out / "bench.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (out / "bench.md").write_text(runs_table(rows) + seeds_table(rows))


def runs_table(rows: list[dict]) -> str:
    header = ("| task | model | seed | steps | L1 to testA_gt ↓ | PSNR (dB) ↑ | SSIM ↑ | FID-local ↓ | KID-local ↓ | "
              "domain score ↑ | diversity | diversity (pixels) | it/s |\n" + "|---" * 13 + "|\n")
    body = "".join(f"| {r['task']} | {r['model']} | {r['seed']} | {r['steps']} | {_shown(r['l1'], '.4f')} | "
                   f"{_shown(r['psnr'], '.2f')} | {_shown(r['ssim'], '.3f')} | {r['fid_local']:.2f} | "
                   f"{r['kid_local']:.4f} | {r['domain_score']:.2f} | {r['diversity']:.2f}{_flag(r)} | "
                   f"{r['diversity_pixels']:.2f} | {r['it_per_s']} |\n" for r in rows)
    collapsed = any(r["mode_collapse"] for r in rows)
    note = (f"\n⚠ flagged as collapsed (diversity < {COLLAPSE_THRESHOLD}). Diversity is measured in the domain "
            "classifier's features, which spread little for images it judges out of the target domain; "
            "diversity (pixels) tells those apart from outputs that are all alike.\n")
    return header + body + (note if collapsed else "")


def seeds_table(rows: list[dict]) -> str:
    """Per task and model trained with several seeds: the mean and the worst seed of each score."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row["seed"] != "":
            groups.setdefault((row["task"], row["model"]), []).append(row)
    if all(len(runs) < 2 for runs in groups.values()):
        return ""
    lines = ["", "Over training seeds: mean (worst seed)", "",
             "| task | model | seeds | L1 ↓ | domain score ↑ | diversity | collapsed |",
             "|---|---|---|---|---|---|---|"]
    for (task, model), runs in groups.items():
        l1 = [r["l1"] for r in runs if r["l1"] is not None]
        l1_text = f"{sum(l1) / len(l1):.4f} ({max(l1):.4f})" if l1 else "–"
        domain, diversity = [r["domain_score"] for r in runs], [r["diversity"] for r in runs]
        lines.append(f"| {task} | {model} | {len(runs)} | {l1_text} | {sum(domain) / len(domain):.2f} "
                     f"({min(domain):.2f}) | {sum(diversity) / len(diversity):.2f} ({min(diversity):.2f}) | "
                     f"{sum(r['mode_collapse'] for r in runs)} of {len(runs)} |")
    return "\n".join(lines) + "\n"


def _flag(row: dict) -> str:
    return " ⚠" if row["mode_collapse"] else ""


def _shown(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)
