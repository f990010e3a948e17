"""The untiled-translation memory estimate (issue 25) against the measured peak: for each method, a randomly
initialised model translates one image untiled in a fresh process, and the growth of its peak resident memory
over the memory before the translation is compared with `Translator.untiled_memory`.

    python benchmarks/translate_memory.py --models cut,cyclegan,ugatit-light --side 1000 --width 8
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

MEASURE = """
import json, os, resource, sys, torch, pairless
translator = pairless.load(sys.argv[1], device="cpu")
image = torch.rand(1, 3, int(sys.argv[2]), int(sys.argv[2]))
estimate = translator.untiled_memory(image.shape, "AtoB")
with open("/proc/self/statm") as statm:
    resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
translator.translate_tensor(image)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - resident
print(json.dumps({"estimate_mb": estimate / 2**20, "peak_mb": peak / 2**20}))
"""


def measure(method: str, side: int, width: int, folder: Path) -> dict:
    from pairless.checkpoint import build_model, save_checkpoint
    from pairless.config import RunConfig

    cfg = RunConfig.defaults(method).override({"model.width": width, "data.size": 64}).resolved()
    weights = save_checkpoint(folder / method, build_model(cfg), cfg, 0, {}, keep_last=0)
    done = subprocess.run([sys.executable, "-c", MEASURE, str(weights), str(side)], capture_output=True, text=True,
                          check=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return {"model": method, "side": side, "width": width, **row, "estimate_over_peak": row["estimate_mb"] /
            row["peak_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cut,cyclegan,ugatit-light")
    parser.add_argument("--side", type=int, default=1000)
    parser.add_argument("--width", type=int, default=8)
    args = parser.parse_args()
    print("| model | side | width | estimate MB | measured peak MB | estimate / peak |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for method in args.models.split(","):
            r = measure(method, args.side, args.width, Path(folder))
            print(f"| {r['model']} | {r['side']} | {r['width']} | {r['estimate_mb']:.0f} | {r['peak_mb']:.0f} | "
                  f"{r['estimate_over_peak']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
