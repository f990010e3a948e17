"""Training samples per second from the data loader, against what a 20 ms step needs.

    OMP_NUM_THREADS=1 python benchmarks/loader.py --data ../shared/data/horse2zebra --size 256 --workers 0,2

A sample is one A and one B image, decoded, resized, cropped and flipped as the trainer's loader does it
(the same data set, sampler and DataLoader settings), with the decoded-image cache off and on. Without
--data (or where the folder is missing) it writes and uses a built-in synthetic set. Nothing trains: this
is the loader alone, the first batch (worker start-up, cache filling) timed apart.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from pairless.data.config import DataConfig
from pairless.data.synthetic import make_synthetic_dataset
from pairless.data.unpaired import UnpairedImageFolder
from pairless.train.loop import StepBatchSampler

STEP_SECONDS = 0.020


def measure(root: Path, size: int, workers: int, cache_mb: int, batch_size: int, batches: int) -> dict:
    start = time.perf_counter()
    dataset = UnpairedImageFolder(DataConfig(root=str(root), size=size, workers=workers, cache_mb=cache_mb))
    cached = dataset.preload(cache_mb)
    sampler = StepBatchSampler(0, batches + 1, batch_size)
    loader = iter(DataLoader(dataset, batch_sampler=sampler, num_workers=workers))
    next(loader)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in loader:
        pass
    seconds = time.perf_counter() - start
    return {"first": first, "per_s": batches * batch_size / seconds, "cached_mb": cached / 2**20}


def data_folder(requested: str | None, size: int, scratch: Path) -> tuple[Path, str]:
    if requested and Path(requested).is_dir():
        return Path(requested), requested
    root = scratch / "stripes"
    make_synthetic_dataset("stripes", root, count=64, test_count=2, size=size)
    return root, f"built-in synthetic stripes, {size} px ({requested or 'no --data'} not found)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/horse2zebra"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workers", default="0,2", help="comma-separated worker counts to try")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--cache-mb", type=int, default=2048)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root, described = data_folder(args.data, args.size, Path(scratch))
        needed = args.batch_size / STEP_SECONDS
        print(f"data: {described}; {args.size} px crops, batch {args.batch_size}, {args.batches} batches, "
              f"torch threads {torch.get_num_threads()}")
        print(f"a {STEP_SECONDS * 1000:.0f} ms step at batch {args.batch_size} needs {needed:.0f} samples/s")
        print("| workers | cache | samples/s | share of a 20 ms step's need | first batch s | cached MiB |")
        print("|---|---|---|---|---|---|")
        for workers in (int(w) for w in args.workers.split(",")):
            for cache_mb in (0, args.cache_mb):
                row = measure(root, args.size, workers, cache_mb, args.batch_size, args.batches)
                print(f"| {workers} | {'on' if cache_mb else 'off'} | {row['per_s']:.1f} | "
                      f"{row['per_s'] / needed:.2f} | {row['first']:.1f} | {row['cached_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
