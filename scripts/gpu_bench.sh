#!/usr/bin/env bash
# The GPU figures of docs/performance.md in one run (about ten minutes on an H100/H200):
#   bash scripts/gpu_bench.sh [cuda:N] > gpu_bench.jsonl
# Each line of stdout is one bench.py JSON object; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
device="${1:-cuda}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >&2
python -m pytest -q tests/test_plate.py -k "bf16 or precision" >&2  # AMP keeps float32 Grams
python -m pytest -q tests/test_lbfgs.py -k bf16 >&2  # bf16 pairs: cuBLAS products in float32
python scripts/bench.py --device "$device" --size 512x288 --lbfgs 50 --render 6 \
    --compile reduce-overhead --json            # CUDA graphs where launches bound the time
python scripts/bench.py --device "$device" --size 1920x1080 --solver 30 \
    --compile reduce-overhead --json
python scripts/bench.py --device "$device" --size 1920x1080 --lbfgs-history 20 \
    --skip-reference --json                     # a shorter history: its time and its loss
python scripts/bench.py --device "$device" --size 1920x1080 --solver 30 --lbfgs-precision bf16 \
    --skip-reference --json                     # bf16 pairs: the solver's time and the loss
python scripts/bench.py --device "$device" --size 1920x1080 --precision float32 \
    --skip-reference --json                     # the speed-up of bf16, and its loss
python scripts/bench.py --device "$device" --size 3840x2160 --skip-reference \
    --memory-fraction 0.56 --json               # 4K within 80 GB of a 141 GB card
