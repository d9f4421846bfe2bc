#!/usr/bin/env bash
# The GPU figures of docs/performance.md in one run of at most BUDGET seconds (default 540):
#   bash scripts/gpu_bench.sh [cuda:N] [SOURCE] > gpu_bench.jsonl
# Each line of stdout is one bench.py JSON object; progress goes to stderr. SOURCE (default
# sample_videos/valley.mp4) may be an image sequence (frames/valley.%04d.png): renders then
# write PNG frames, so a machine without ffmpeg runs every step. The steps run most
# important first, each under its own time limit, cut to what is left of the budget; a step
# that fails or runs out of time is reported and the next one runs. A bench stopped at its
# limit still prints the figures it measured, with "interrupted" naming the one under way.
# With FRAMES=DIR, the renders at 1920x1080 and 512x288 save their first and last frame
# there (8-bit PNG, named by size and iterations), so the look at plate size can be viewed.
set -uo pipefail
cd "$(dirname "$0")/.."
device="${1:-cuda}"
source="${2:-sample_videos/valley.mp4}"
deadline=$(( $(date +%s) + ${BUDGET:-540} ))
python="${PYTHON:-$(command -v python || command -v python3)}"
keep=()
[[ -n "${FRAMES:-}" ]] && keep=(--keep-frames "$FRAMES")

step() {  # step LIMIT_SECONDS COMMAND...
    local limit=$1 left start rc
    shift
    left=$(( deadline - $(date +%s) ))
    if (( left < 30 )); then
        echo "== skipped (budget spent): $*" >&2
        return
    fi
    (( limit > left )) && limit=$left
    echo "== ${limit}s at most: $*" >&2
    start=$(date +%s)
    timeout -k 10 "$limit" "$@"
    rc=$?
    echo "== rc $rc after $(( $(date +%s) - start ))s" >&2
}

bench() {  # bench LIMIT_SECONDS OPTIONS...
    local limit=$1
    shift
    step "$limit" "$python" scripts/bench.py --device "$device" --source "$source" --json "$@"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2 || true
"$python" -c "import torch; print('torch', torch.__version__, torch.version.cuda)" >&2
# What the first GPU run (docs/performance.md, "GPU figures") did not measure comes first.
# 1080p, the standard preset without the reference: the per-frame figures, the memory a
# frame holds once cuDNN is tuned, a render's idle share and its frames.
bench 180 --size 1920x1080 --skip-reference --tuned --render 3 ${keep[@]+"${keep[@]}"}
# 4K within 80 GB of a 141 GB card.
bench 180 --size 3840x2160 --skip-reference --memory-fraction 0.56
# On the GPU: AMP keeps float32 Gram matrices; bf16 pairs use cuBLAS products into float32;
# the compiled objective (CUDA graphs under reduce-overhead) gives eager's terms and gradient.
step 180 "$python" -m pytest -q -p no:cacheprovider tests/test_plate.py tests/test_lbfgs.py \
    tests/test_optimize.py -k "autocast or bf16_pairs or compiled_objective" >&2
# 1080p with 40 later iterations and CUDA graphs: whether a later frame reaches the 1 s
# target, and its frames to compare by eye with the standard's 75 above.
bench 150 --size 1920x1080 --skip-frames --iterations 400,40 --compile reduce-overhead \
    --render 4 ${keep[@]+"${keep[@]}"}
# Measured in the first run, measured again: 512x288 with CUDA graphs and our L-BFGS against
# torch's, and a render of 6 frames compiled (the first run's was eager); 1080p with the
# reference, the solver and CUDA graphs.
bench 120 --size 512x288 --compile reduce-overhead --lbfgs 50 --render 6 ${keep[@]+"${keep[@]}"}
bench 150 --size 1920x1080 --compile reduce-overhead --solver 30
