#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Load test of `sam3 serve` on loopback with wrk (Debian package `wrk`).
# Starts the daemon on a free port, runs time-bounded wrk rounds and prints
# requests/s with p50/p99 latency per endpoint, then the daemon's overhead
# over the core call it wraps (client latency minus the inference_time_ms the
# daemon measured around ImageEngine; that is HTTP + JSON + base64 + decode +
# RLE encoding + queueing).
#
# Usage: bench/daemon_load.sh [MODEL_DIR] [BPE]
# Env:   SAM3=path/to/sam3  DURATION=10s  CONNECTIONS=4  THREADS=2  IMAGE=file.png  SAMPLES=20
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
SAM3="${SAM3:-$here/build/sam3}"
MODEL="${1:-$here/../shared/golden/image_tiny}"
BPE="${2:-$here/../shared/golden/bpe_simple_vocab_16e6.txt.gz}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-4}"
THREADS="${THREADS:-2}"
SAMPLES="${SAMPLES:-20}"
IMAGE="${IMAGE:-$MODEL/case0_text.png}"

command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl not found" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 2; }
[ -x "$SAM3" ] || { echo "no sam3 binary at $SAM3 (build it, or set SAM3=)" >&2; exit 2; }

work="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

args=(serve --port 0 --log-level warn)
with_model=0
if [ -d "$MODEL" ]; then
  args+=(--model "$MODEL")
  [ -f "$BPE" ] && args+=(--bpe "$BPE")
  with_model=1
else
  echo "note: no model at '$MODEL': only the HTTP path (/health, 400s) is measured" >&2
fi
"$SAM3" "${args[@]}" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/out" ] && break; sleep 0.1; done
port="$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["port"])' "$work/out")"
base="http://127.0.0.1:$port"
if [ "$with_model" = 1 ]; then
  for _ in $(seq 600); do curl -sf "$base/ready" >/dev/null && break; sleep 0.1; done
  curl -sf "$base/ready" >/dev/null || { echo "daemon never became ready:" >&2; tail -5 "$work/err" >&2; exit 1; }
fi

# Request bodies.
python3 - "$IMAGE" "$work" <<'PY'
import base64, json, sys, os
img, work = sys.argv[1], sys.argv[2]
data = base64.b64encode(open(img, "rb").read()).decode() if os.path.exists(img) else "AAAA"
json.dump({"image": data, "prompts": [{"type": "text", "text": "red circle"}]}, open(f"{work}/segment.json", "w"))
json.dump({"image": data, "text_prompts": ["red circle", "blue square"]}, open(f"{work}/cached.json", "w"))
json.dump({"image": data, "prompts": [{"type": "nope"}]}, open(f"{work}/bad.json", "w"))
PY
for name in segment cached bad; do
  cat >"$work/$name.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/$name.json", "rb"); wrk.body = f:read("*a"); f:close()
LUA
done

round() {  # label path [script]
  local label="$1" path="$2" script="${3:-}"
  local opts=(-t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency --timeout 30s)
  [ -n "$script" ] && opts+=(-s "$script")
  wrk "${opts[@]}" "$base$path" >"$work/wrk.txt" 2>&1 || { cat "$work/wrk.txt" >&2; return; }
  python3 - "$label" "$work/wrk.txt" <<'PY'
import re, sys
label, text = sys.argv[1], open(sys.argv[2]).read()
def ms(v):
    n, u = re.match(r"([\d.]+)(\w+)", v).groups()
    return float(n) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[u]
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
p50 = re.search(r"\s50%\s+(\S+)", text)
p99 = re.search(r"\s99%\s+(\S+)", text)
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
print(f"{label:<34} {float(rps.group(1)) if rps else 0:>10.1f} req/s   p50 {ms(p50.group(1)) if p50 else 0:>9.2f} ms   "
      f"p99 {ms(p99.group(1)) if p99 else 0:>9.2f} ms" + (f"   non-2xx {non2xx.group(1)}" if non2xx else ""))
PY
}

echo "sam3 daemon load test: $CONNECTIONS connections, $THREADS wrk threads, $DURATION per round, port $port"
round "GET /health" /health
round "POST segment (400: bad prompt)" /api/v1/image/segment "$work/bad.lua"
if [ "$with_model" = 1 ]; then
  round "POST segment (feature cache hit)" /api/v1/image/segment "$work/segment.lua"
  round "POST cached-features (2 prompts)" /api/v1/image/cached-features "$work/cached.lua"

  # Overhead over the core call, one request at a time.
  for _ in $(seq "$SAMPLES"); do
    curl -s -o "$work/resp.json" -w '%{time_total}\n' -H 'Content-Type: application/json' \
      --data-binary @"$work/segment.json" "$base/api/v1/image/segment" >>"$work/times.txt"
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["inference_time_ms"])' "$work/resp.json" >>"$work/core.txt"
  done
  python3 - "$work/times.txt" "$work/core.txt" <<'PY'
import statistics, sys
total = [float(x) * 1000 for x in open(sys.argv[1])]
core = [float(x) for x in open(sys.argv[2])]
over = sorted(t - c for t, c in zip(total, core))
print(f"overhead over the core call (n={len(over)}): median {statistics.median(over):.2f} ms, "
      f"max {over[-1]:.2f} ms; core median {statistics.median(core):.2f} ms, client median {statistics.median(total):.2f} ms")
PY
fi
