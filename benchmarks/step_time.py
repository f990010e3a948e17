"""Seconds per training iteration and peak GPU memory of pairless models, against the reference figures.

    python benchmarks/step_time.py --models cut,fastcut,dclgan,simdcl --size 256 --batch-size 1

Each model is built from its preset at the given size and trained on random images already on the
device (the data path is excluded), through the same `train_step` and `Optimizers` the trainer uses.
Times are the median of `--iters` iterations after `--warmup`, with the device synchronised around each;
peak memory is torch's peak allocation plus, on CUDA, the process's peak as nvidia-smi reports it
(sampled every 20 ms), which is what the reference figures were measured with.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import threading
import time

import torch

from pairless.checkpoint import build_model
from pairless.config import RunConfig
from pairless.devices import resolve_device, set_cuda_speed_options
from pairless.train.loop import autocast
from pairless.train.optim import Optimizers
from pairless.train.speed import compile_networks

# Reference implementations on an H100 at 256 px, batch 1, default settings (issues 3, 4 and 8):
# seconds per iteration and nvidia-smi peak memory of the whole process in GB.
REFERENCE = {
    "cut": (0.092, 3.55), "fastcut": (0.060, 2.49), "dclgan": (0.136, 5.46), "simdcl": (0.224, 6.00),
    "ugatit-light": (0.29, 8.8), "ugatit": (0.33, 18.7), "cyclegan": (None, 4.81),
}


class NvidiaSmiPeak:
    """Polls nvidia-smi for this process's GPU memory and keeps the maximum (MiB)."""

    def __init__(self, interval: float = 0.02):
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        import os

        pid = str(os.getpid())
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory",
                                      "--format=csv,noheader,nounits"], capture_output=True, text=True,
                                     timeout=5).stdout
            except (OSError, subprocess.TimeoutExpired):
                return
            for line in out.splitlines():
                fields = [f.strip() for f in line.split(",")]
                if fields[0] == pid:
                    self.peak = max(self.peak, float(fields[1]))
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_model(name: str, size: int, batch_size: int, iters: int, warmup: int, precision: str,
               device: torch.device, overrides: dict) -> dict:
    cfg = RunConfig.defaults(name).override({"data.size": size, "train.batch_size": batch_size,
                                             "train.precision": precision, **overrides})
    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    if cfg.train.cuda_graphs:
        compile_networks(model)
    optimizers = Optimizers(model, cfg.train, device.type, precision)
    batch = {key: torch.rand(batch_size, 3, size, size, device=device) * 2 - 1 for key in ("A", "B")}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(warmup + iters):
        synchronize(device)
        start = time.perf_counter()
        with autocast(device, precision):
            model.train_step(batch, optimizers)
        optimizers.end_iteration()
        synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {"model": name, "s_per_iter": seconds, "images_per_s": batch_size / seconds, "torch_peak_gb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cut,fastcut,dclgan,simdcl,cyclegan")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every model, e.g. --set width=8 (repeatable)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    set_cuda_speed_options(device, tf32=True, cudnn_benchmark=True)
    overrides = dict(item.split("=", 1) for item in args.set)
    print(f"device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else device.type}, "
          f"{args.size} px, batch {args.batch_size}, {args.precision}, median of {args.iters} iterations")
    print("| model | s/iter | images/s | torch peak GB | nvidia-smi peak GB | reference s/iter | ref GB | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        with NvidiaSmiPeak() as smi:
            row = time_model(name, args.size, args.batch_size, args.iters, args.warmup, args.precision,
                             device, overrides)
        ref_s, ref_gb = REFERENCE.get(name, (None, None))
        comparable = ref_s and device.type == "cuda" and args.size == 256 and args.batch_size == 1
        speedup = f"{ref_s / row['s_per_iter']:.2f}x" if comparable else "-"
        smi_gb = f"{smi.peak / 1024:.2f}" if smi.peak else "-"
        print(f"| {name} | {row['s_per_iter']:.4f} | {row['images_per_s']:.1f} | {row['torch_peak_gb']:.2f} | "
              f"{smi_gb} | {ref_s or '-'} | {ref_gb or '-'} | {speedup} |", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
