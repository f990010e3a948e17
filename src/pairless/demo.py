"""`pairless demo` / `make demo`: a few minutes from nothing to a scored translator on built-in data.

Generates the synthetic `hue` task at 64 px, trains a narrow CUT on it, translates the held-out test
scenes and scores them against their true target renderings (testA_gt), next to the same scores for the
untouched input, so the improvement is visible.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pairless.config import RunConfig
from pairless.data.synthetic import make_synthetic_dataset
from pairless.errors import PairlessError, StoppedBySignal
from pairless.eval.paired import score_folders, translate_and_score
from pairless.train.loop import train
from pairless.translator import Translator

TASK = "hue"
SIZE = 64
STEPS = 3000
MARKER = "demo.json"


def demo_config(data_dir: Path, steps: int, device: str) -> RunConfig:
    """CUT's preset, narrowed for two CPU cores. Crops are taken at the test scale (load size = crop size)
    so the test scenes look like the training ones; the budget was chosen by measuring L1 against testA_gt
    over training on this machine: below about 2,500 iterations the output does not yet beat the input."""
    return RunConfig.defaults("cut").override({
        "data.root": str(data_dir), "data.size": SIZE, "data.load_size": SIZE, "data.workers": 1,
        "model.width": 16, "model.n_blocks": 6,
        "train.steps": steps, "train.device": device, "train.log_every": 100,
        "train.sample_every": 500, "train.save_every": 500,
    })


def prepare_folder(out: Path) -> None:
    """The demo owns `out`: it may be absent, empty, or a previous demo's folder (which is replaced)."""
    if out.exists() and not out.is_dir():
        raise PairlessError(f"--out {out} is a file; the demo needs a folder of its own: pass another --out")
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise PairlessError(f"{out} exists and is not a pairless demo folder; pass another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def run_demo(out: str | Path = "runs/demo", steps: int | None = None, device: str = "auto") -> dict:
    out = Path(out)
    steps = STEPS if steps is None else steps
    cfg = demo_config(out / "data", steps, device)  # the settings, checked before the folder is touched
    prepare_folder(out)
    (out / MARKER).write_text(json.dumps({"task": TASK, "size": SIZE, "steps": steps}))
    print(f"[1/3] generating the synthetic '{TASK}' task ({SIZE} px) in {out / 'data'}", flush=True)
    data_dir = make_synthetic_dataset(TASK, out / "data", count=500, size=SIZE, seed=0)

    print(f"[2/3] training CUT for {steps} steps in {out / 'run'} (TensorBoard: tensorboard --logdir {out})",
          flush=True)
    result = train(cfg, out / "run")
    if result.interrupted:
        raise StoppedBySignal(result.stop_signal)

    print(f"[3/3] translating the {TASK} test set into {out / 'translated'} and scoring it against the true "
          f"target images (testA_gt)", flush=True)
    scores = {
        "task": TASK, "model": "cut", "steps": steps, "size": SIZE,
        "translated": translate_and_score(Translator.load(out / "run", device), data_dir, out / "translated"),
        "input_unchanged": score_folders(data_dir / "testA", data_dir / "testA_gt"),
    }
    (out / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    print_summary(out, scores)
    return scores


def print_summary(out: Path, scores: dict) -> None:
    t, u = scores["translated"], scores["input_unchanged"]
    print(f"\n  L1 to ground truth:  translated {t['l1']:.4f}  vs  input unchanged {u['l1']:.4f}"
          f"  (lower is better)")
    print(f"  PSNR:                translated {t['psnr']:.2f} dB vs  input unchanged {u['psnr']:.2f} dB")
    print(f"\n  scores       {out / 'scores.json'}")
    print(f"  samples      {out / 'run' / 'samples'} (input | output | target-domain input | identity)")
    print(f"  translations {out / 'translated'}")
    print(f"  checkpoint   {out / 'run' / 'latest.safetensors'}  (pairless translate it on your images)")
