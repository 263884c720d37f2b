#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prints the performance figures of `sam3 bench` (docs/performance.md) for one
# model: each thread count x dtype, one JSON line each on stdout and a one-line
# summary each on stderr. Figures are printed, never asserted (CI runs it on
# the tiny model; numbers from a shared runner are only indicative).
#
# Usage: scripts/bench.sh [sam3-binary] [model-folder]
#   model-folder default: $SAM3_BENCH_MODEL, else a random tiny model written
#   by `sam3 model init` into a temp folder (the CLIP vocabulary comes from
#   $SAM3_BPE_PATH or ../shared/golden).
# Environment: SAM3_BENCH_THREADS ("1 N"), SAM3_BENCH_DTYPES ("fp32 bf16"),
#   SAM3_BENCH_ARGS (extra `sam3 bench` flags, e.g. "--runs 10"),
#   SAM3_BPE_PATH (the CLIP vocabulary when the folder has none).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
SAM3=${1:-$root/build/sam3}
MODEL=${2:-${SAM3_BENCH_MODEL:-}}
golden="$root/../shared/golden"
if [[ -z "${SAM3_BPE_PATH:-}" && -f "$golden/bpe_simple_vocab_16e6.txt.gz" ]]; then
  export SAM3_BPE_PATH="$golden/bpe_simple_vocab_16e6.txt.gz"
fi
tmp=""
# An if, not `[[ ]] &&`: a false test would become the exit status (77 -> 1).
cleanup() { if [[ -n "$tmp" ]]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT
if [[ -z "$MODEL" && -z "${SAM3_BPE_PATH:-}" ]]; then
  # Text prompts need the CLIP vocabulary, which no package ships: without
  # ../shared (or SAM3_BPE_PATH) there is nothing honest to measure.
  echo "sam3 bench: skipped: no CLIP vocabulary (set SAM3_BPE_PATH or provide ../shared/golden)" >&2
  exit 77
fi
if [[ -z "$MODEL" ]]; then
  # A random tiny model with the tracker (so the video figure runs too).
  tmp="$(mktemp -d)"
  MODEL="$tmp/tiny"
  "$SAM3" model init --preset tiny --out "$MODEL" --log-level warn >/dev/null
fi
cores=$(nproc)
THREADS=${SAM3_BENCH_THREADS:-"1 $cores"}
DTYPES=${SAM3_BENCH_DTYPES:-"fp32 bf16"}
echo "sam3 bench: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $cores cores, load $(cut -d' ' -f1-3 /proc/loadavg), model $MODEL" >&2
seen=""
for t in $THREADS; do
  case " $seen " in *" $t "*) continue ;; esac  # "1 1" on a 1-core runner
  seen="$seen $t"
  for d in $DTYPES; do
    # shellcheck disable=SC2086
    "$SAM3" bench --model "$MODEL" --threads "$t" --dtype "$d" --runs 5 --prompts 4 \
      --batch-images 32 --backbone-batch 2 --video-frames 16 --log-level warn ${SAM3_BENCH_ARGS:-}
  done
done
