#!/usr/bin/env bash
# The built-in `stripes` task at one budget, three training seeds per model (issue 18): 64 px, width 16
# (6 residual blocks, the default below 256 px), 3,000 iterations, batch 1, the methods' defaults otherwise;
# load size 72 is what `pairless train --size 64` uses by default (64 * 286 / 256). Writes OUT/bench.md
# (one row per run, then mean and worst seed per model) and OUT/bench.csv. Several hours on 2 CPU cores.
# MODELS and SEEDS choose the runs; EXTRA holds more options for every run (e.g. --antialias-up).
set -euo pipefail
out=${1:-runs/stripes-seeds}
models=${MODELS:-cut,fastcut,dclgan,cyclegan}
seeds=${SEEDS:-0,1,2}
# shellcheck disable=SC2086  # EXTRA is a list of options
pairless bench --tasks stripes --models "$models" --steps 3000 --size 64 --width 16 --seeds "$seeds" \
    --load-size 72 --out "$out" ${EXTRA:-}
