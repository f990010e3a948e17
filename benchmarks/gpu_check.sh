#!/usr/bin/env bash
# The one command to run on a GPU machine (issue 14); results go to $OUT (default runs/gpu_check).
#   benchmarks/gpu_check.sh --prepare   # here, once: the shrunk horse2zebra copy in .carry/h2z-small (carry it)
#   benchmarks/gpu_check.sh             # there: about 7 minutes on an H100/H200
#   benchmarks/gpu_check.sh --smoke     # anywhere: the same code on the CPU at 32 px, tiny networks
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ "${1:-}" = "--prepare" ]; then
    exec "$PYTHON" benchmarks/gpu_check.py --prepare .carry/h2z-small
fi
OUT="${OUT:-runs/gpu_check}"
mkdir -p "$OUT"
"$PYTHON" benchmarks/gpu_check.py --out "$OUT" --data .carry/h2z-small "$@" 2>&1 | tee "$OUT/gpu_check.log"
