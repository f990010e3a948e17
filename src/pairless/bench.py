"""`pairless bench`: every method on every built-in task at the same budget, in one comparison table.

Runs are kept under the output folder, so a bench that was stopped continues where it was (finished
runs are not trained again) and a larger --steps resumes them.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pairless.config import RunConfig
from pairless.data.synthetic import make_synthetic_dataset
from pairless.errors import PairlessError
from pairless.devices import resolve_device
from pairless.eval.domain import LocalFeatures, domain_classifier_for
from pairless.eval.evaluate import distribution_scores
from pairless.eval.imageset import folder_paths, load_image_set
from pairless.eval.paired import score_folders, translate_and_score
from pairless.train.checkpoint import WEIGHTS
from pairless.train.loop import train
from pairless.translator import Translator

COLUMNS = ("task", "model", "steps", "l1", "psnr", "ssim", "fid_local", "domain_score", "diversity", "it_per_s")


def bench_config(model: str, data_dir: Path, steps: int, size: int, width: int, device: str,
                 options: dict[str, str]) -> RunConfig:
    """The method's preset at the bench's size, width and budget, plus the options it has."""
    cfg = RunConfig.defaults(model)
    own = {key: value for key, value in options.items() if has_option(cfg, key)}
    return cfg.override({
        "data.root": str(data_dir), "data.size": size, "data.load_size": size, "data.workers": 1,
        "model.width": width, "train.steps": steps, "train.device": device, "train.log_every": 100,
        "train.sample_every": max(steps // 4, 1), "train.save_every": max(steps // 4, 1), **own,
    })


def has_option(cfg: RunConfig, key: str) -> bool:
    try:
        cfg.locate(key)
        return True
    except PairlessError:
        return False


def check_options(models: list[str], options: dict[str, str]) -> None:
    """Each option must belong to at least one of the models (else: the usual 'did you mean' error)."""
    configs = [RunConfig.defaults(model) for model in models]
    for key in options:
        if not any(has_option(cfg, key) for cfg in configs):
            configs[0].locate(key)


def task_data(out: Path, task: str, size: int, count: int, seed: int) -> Path:
    """The task's data set under out/data, generated once and reused while its parameters match."""
    folder = out / "data" / f"{task}_{size}px_{count}_seed{seed}"
    if not (folder / "synth.json").is_file():
        make_synthetic_dataset(task, folder, count=count, size=size, seed=seed)
    return folder


def train_to(cfg: RunConfig, run_dir: Path) -> None:
    """Train, resume an unfinished run, or keep a finished one."""
    resume = (run_dir / WEIGHTS).is_file()
    result = train(cfg, run_dir, resume=resume, quiet=True)
    if result.interrupted:
        raise KeyboardInterrupt


def last_rate(run_dir: Path) -> float:
    """The training speed of the last log record (evaluation records carry none)."""
    for line in reversed((run_dir / "metrics.jsonl").read_text().splitlines()):
        record = json.loads(line)
        if "it_per_s" in record:
            return record["it_per_s"]
    return float("nan")


def run_bench(tasks: list[str], models: list[str], steps: int, out: str | Path, size: int = 64,
              width: int = 16, count: int = 500, seed: int = 0, device: str = "auto",
              options: dict[str, str] | None = None, log=print) -> list[dict]:
    out = Path(out)
    options = options or {}
    check_options(models, options)
    rows = []
    for task in tasks:
        data_dir = task_data(out, task, size, count, seed)
        judge = domain_classifier_for(data_dir, resolve_device(device), log=log)
        target = load_image_set(folder_paths(data_dir / "testB"), size)
        inputs = folder_paths(data_dir / "testA")
        unchanged = score_folders(data_dir / "testA", data_dir / "testA_gt")
        rows.append({"task": task, "model": "input unchanged", "steps": 0, "it_per_s": "",
                     **_scores(unchanged, _offline_scores(inputs, target, judge, size))})
        for model in models:
            run_dir = out / task / model
            log(f"{task} / {model}: training {steps} steps in {run_dir}")
            train_to(bench_config(model, data_dir, steps, size, width, device, options), run_dir)
            translator = Translator.load(run_dir, device)
            scores = translate_and_score(translator, data_dir, run_dir / "translated")
            offline = _offline_scores(folder_paths(run_dir / "translated"), target, judge, size)
            rows.append({"task": task, "model": model, "steps": steps, **_scores(scores, offline),
                         "it_per_s": round(last_rate(run_dir), 2)})
            log(f"{task} / {model}: L1 {scores['l1']:.4f}  PSNR {scores['psnr']:.2f} dB  "
                f"FID-local {offline['fid_local']:.2f}  domain score {offline['domain_score']:.2f}")
    write_tables(rows, out)
    return rows


def _offline_scores(images: list[Path], target, judge: LocalFeatures, size: int) -> dict:
    return distribution_scores(load_image_set(images, size), target, judge, "B")


def _scores(truth: dict, offline: dict) -> dict:
    return {"l1": round(truth["l1"], 4), "psnr": round(truth["psnr"], 2), "ssim": round(truth["ssim"], 3),
            "fid_local": round(offline["fid_local"], 2), "domain_score": round(offline["domain_score"], 2),
            "diversity": round(offline["diversity"], 2)}


def write_tables(rows: list[dict], out: Path) -> None:
    with open(out / "bench.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    header = ("| task | model | steps | L1 to testA_gt ↓ | PSNR (dB) ↑ | SSIM ↑ | FID-local ↓ | domain score ↑ | "
              "diversity | it/s |\n|---|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(f"| {r['task']} | {r['model']} | {r['steps']} | {r['l1']:.4f} | {r['psnr']:.2f} | "
                   f"{r['ssim']:.3f} | {r['fid_local']:.2f} | {r['domain_score']:.2f} | {r['diversity']:.2f} | "
                   f"{r['it_per_s']} |\n" for r in rows)
    (out / "bench.md").write_text(header + body)
