"""The GPU check of issue 14 (run through benchmarks/gpu_check.sh): step time and peak memory per translator
with the fast path and plain fp32 eager, bf16 throughput at batch 8 and 16, and a 4-minute CUT run at 128 px
with its domain score and sample grid. --smoke runs the same code on the CPU at 32 px with tiny networks.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_time import time_model  # noqa: E402  (a script beside this one)

from pairless.config import RunConfig  # noqa: E402
from pairless.data.images import list_images, read_image, save_image  # noqa: E402
from pairless.data.synthetic import make_synthetic_dataset  # noqa: E402
from pairless.data.transforms import resize  # noqa: E402
from pairless.devices import resolve_device, set_cuda_speed_options  # noqa: E402
from pairless.eval.evaluate import EvalSettings, evaluate_checkpoint  # noqa: E402
from pairless.train.loop import train  # noqa: E402

TRANSLATORS = ("cut", "fastcut", "dclgan", "simdcl", "cyclegan", "ugatit-light", "ugatit")
FAST = {}
PLAIN = {"train.fused_optimizer": False}
SHRUNK_SIDE = 143
"""The prepared copy's side: the load size of a 128 px crop (128 * 286 / 256)."""


class Settings:
    def __init__(self, smoke: bool):
        self.smoke = smoke
        self.size, self.run_size = (32, 32) if smoke else (256, 128)
        self.warmup, self.iters = (1, 2) if smoke else (5, 15)
        self.batches = (2,) if smoke else (8, 16)
        self.run_seconds = 5.0 if smoke else 240.0
        self.classifier_steps = 20 if smoke else None

    def overrides(self, name: str) -> dict:
        """The test suite's tiny networks in --smoke (imported only then: the GPU machine may lack pytest)."""
        if not self.smoke:
            return {}
        from tests.conftest import TINY_MODEL

        return dict(TINY_MODEL.get(name, {}))


class Results:
    """What the check has measured so far, written out (gpu_check.json and .md) after every row, so that a
    check stopped at any point (a busy CPU, the end of a GPU lease) leaves everything it measured."""

    def __init__(self, out: Path, header: dict, s: Settings):
        self.out, self.s = out, s
        self.data: dict = {**header, "step_time": [], "throughput": [], "cut_run": None}

    def add(self, section: str, row: dict) -> dict:
        if section == "cut_run":
            self.data[section] = row
        else:
            self.data[section].append(row)
        self.write()
        return row

    def write(self) -> None:
        (self.out / "gpu_check.json").write_text(json.dumps(self.data, indent=2) + "\n")
        (self.out / "gpu_check.md").write_text(self.report())

    def report(self) -> str:
        d, s = self.data, self.s
        run = [d["cut_run"]] if d["cut_run"] else []
        return (f"# GPU check, {d['date']}, {d['device']}, torch {d['torch']}\n\n"
                f"## Step time at {s.size} px, batch 1\n\n"
                + table(d["step_time"], ["model", "variant", "s_per_iter", "images_per_s", "torch_peak_gb"])
                + f"\n\n## Throughput at {s.size} px\n\n"
                + table(d["throughput"], ["model", "variant", "batch", "s_per_iter", "images_per_s", "torch_peak_gb"])
                + f"\n\n## CUT for {s.run_seconds:.0f} s at {s.run_size} px\n\n"
                + (table(run, list(run[0])) if run else "(not run yet)") + "\n")


def step_rows(s: Settings, device, log, results: Results) -> None:
    """Fast path against plain fp32 eager, every translator at batch 1; CUT also with --cuda-graphs (GPU)."""
    for name in TRANSLATORS:
        variants = [("fast", FAST, True), ("plain fp32 eager", PLAIN, False)]
        if name == "cut" and device.type == "cuda":
            variants.append(("fast + cuda graphs", {"train.cuda_graphs": True}, True))
        for label, overrides, fast in variants:
            set_cuda_speed_options(device, tf32=fast, cudnn_benchmark=fast)
            results.add("step_time", timed(name, label, s.size, 1, "fp32", s, device, overrides, log))
    set_cuda_speed_options(device, tf32=True, cudnn_benchmark=True)


def throughput_rows(s: Settings, device, log, results: Results) -> None:
    precision = "bf16" if device.type == "cuda" or not s.smoke else "fp32"
    for name in ("cut", "fastcut"):
        for batch in s.batches:
            results.add("throughput", timed(name, f"fast, {precision}", s.size, batch, precision, s, device, FAST, log))


def timed(name: str, label: str, size: int, batch: int, precision: str, s: Settings, device, overrides: dict,
          log) -> dict:
    row = {"model": name, "variant": label, "size": size, "batch": batch, "precision": precision}
    try:
        row |= time_model(name, size, batch, s.iters, s.warmup, precision, device,
                          {**s.overrides(name), **overrides})
    except Exception as exc:  # one failing variant (e.g. out of memory, a compile error) must not end the check
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    log(json.dumps(row))
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def timed_run(s: Settings, data: Path, out: Path, scratch: Path, device, log) -> dict:
    """CUT at the run size for about `run_seconds`: the length comes from a timed step, and a SIGINT timer
    (the trainer's clean stop) bounds it in case the estimate was low. Then its domain score and grid."""
    overrides = s.overrides("cut")
    per_step = time_model("cut", s.run_size, 1, s.iters, s.warmup, "fp32", device, overrides)["s_per_iter"]
    steps = max(2, int(s.run_seconds / (per_step * 1.2)))
    cfg = RunConfig.defaults("cut").override({
        "data.root": str(data), "data.size": s.run_size, "data.workers": 0 if s.smoke else 6,
        "train.steps": steps, "train.log_every": max(1, steps // 20), "train.sample_every": steps,
        "train.save_every": steps, "train.device": str(device), **{f"model.{k}": v for k, v in overrides.items()}})
    run_dir = scratch / "cut_run"
    timer = threading.Timer(s.run_seconds * 1.1, signal.raise_signal, (signal.SIGINT,))
    start = time.perf_counter()
    timer.start()
    try:
        result = train(cfg, run_dir, quiet=True)
    finally:
        timer.cancel()
    seconds = time.perf_counter() - start
    row = {"steps": result.step, "planned_steps": steps, "seconds": seconds, "it_per_s": result.step / seconds,
           "data": str(data)}
    if result.step == 0:
        return row | {"error": "stopped by its timer before its first step"}
    settings = EvalSettings(features="local", size=s.run_size, classifier_steps=s.classifier_steps)
    metrics = evaluate_checkpoint(run_dir / "latest.safetensors", data, scratch / "eval", settings, str(device),
                                  log=log)["metrics"]
    grids = sorted((run_dir / "samples").glob("step_*.png"))
    if grids:
        shutil.copy(grids[-1], out / "cut_run_samples.png")
    row |= {"domain_score": metrics["domain_score"], "domain_score_untranslated": metrics["domain_score_untranslated"],
            "fid_local": metrics["fid_local"], "grid": grids[-1].name if grids else "none (stopped before the first)"}
    log(json.dumps(row))
    return row


def data_for_run(s: Settings, requested: Path, scratch: Path, log) -> Path:
    if not s.smoke and (requested / "trainA").is_dir():
        return requested
    root = scratch / "stripes"
    log(f"using built-in synthetic stripes ({requested} {'skipped in --smoke' if s.smoke else 'not found'})")
    make_synthetic_dataset("stripes", root, count=8 if s.smoke else 500, test_count=4 if s.smoke else 50,
                           size=s.run_size + s.run_size // 8)
    return root


def prepare(source: Path, dest: Path) -> None:
    """A copy of `source` (trainA/B, testA/B) at SHRUNK_SIDE px as JPEG: small enough to travel (< 64 MiB)."""
    for split in ("trainA", "trainB", "testA", "testB"):
        for path in list_images(source / split):
            image = resize(read_image(path, 3), SHRUNK_SIDE, SHRUNK_SIDE)
            save_image(image, dest / split / f"{path.stem}.jpg", quality=90)
    megabytes = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) / 2**20
    print(f"wrote {dest}: {megabytes:.1f} MiB")


def table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(cell(row.get(c, row.get("error", "-") if c == "s_per_iter" else "-"))
                                       for c in columns) + " |")
    return "\n".join(lines)


def cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/gpu_check"))
    parser.add_argument("--data", type=Path, default=Path(".carry/h2z-small"))
    parser.add_argument("--smoke", action="store_true", help="CPU, 32 px, tiny networks, a few steps")
    parser.add_argument("--prepare", type=Path, metavar="DEST", help="write the shrunk data copy and stop")
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/horse2zebra")
    args = parser.parse_args()
    if args.prepare:
        prepare(args.source, args.prepare)
        return
    s = Settings(args.smoke)
    device = torch.device("cpu") if s.smoke else resolve_device("auto")
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = args.out / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    log = print
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    log(f"device: {name}, torch {torch.__version__}, {'smoke' if s.smoke else 'full'} check")
    results = Results(args.out, {"device": name, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
                                 "smoke": s.smoke}, s)
    step_rows(s, device, log, results)
    throughput_rows(s, device, log, results)
    results.add("cut_run", timed_run(s, data_for_run(s, args.data, scratch, log), args.out, scratch, device, log))
    shutil.rmtree(scratch, ignore_errors=True)
    log(results.report())


if __name__ == "__main__":
    main()
