#!/usr/bin/env bash
# collm vs PyTorch + peft on the same batch shape and thread count, alternated ROUNDS times in
# one sitting so both see the same machine state; prints every round and the per-implementation
# medians. Run by hand (not in CI), on a quiet machine:
#
#   cargo build --release
#   benches/reference/side_by_side.sh [ROUNDS=3] [PYTHON=/opt/refenv/bin/python] [BENCH ARGS...]
#   benches/reference/side_by_side.sh 3 /opt/refenv/bin/python --batch 16 --tokens 150
#
# BENCH ARGS go to both sides (both take --batch, --tokens, --reps, --warmup, --device, --dtype).
# Both use THREADS threads (default: every core), collm through RAYON_NUM_THREADS.
# The PyTorch side needs numpy, gguf, transformers, peft and torch
# (`python3 -m venv /opt/refenv && /opt/refenv/bin/pip install numpy gguf transformers peft torch`;
# the versions of the README's figures are named beside them).
set -euo pipefail
rounds=${1:-3}
python=${2:-/opt/refenv/bin/python}
shift $(($# < 2 ? $# : 2))
threads=${THREADS:-$(nproc)}
root=$(cd "$(dirname "$0")/../.." && pwd)
collm="$root/target/release/collm"
model=$("$collm" model list | awk '/^\* /{print $NF}')
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq "$rounds"); do
  RAYON_NUM_THREADS=$threads "$collm" bench llm --json "$@" >>"$out"
  # Python's warnings stay on stderr, in view: a failure there must not pass silently.
  "$python" "$root/benches/reference/bench_torch.py" --model "$model" --threads "$threads" \
    --json "$@" | tail -1 >>"$out"
done
"$python" - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for r in rows:
    print(f'{r["impl"]:>14}  eval {r["eval_samples_per_s"]:.3f}  train {r["train_samples_per_s"]:.3f} samples/s  peak {r["peak_rss_mb"]:.0f} MB')
print("medians:")
for impl in dict.fromkeys(r["impl"] for r in rows):
    rs = [r for r in rows if r["impl"] == impl]
    e = statistics.median(r["eval_samples_per_s"] for r in rs)
    t = statistics.median(r["train_samples_per_s"] for r in rs)
    print(f'{impl:>14}  eval {e:.3f}  train {t:.3f} samples/s  ({len(rs)} rounds, batch {rs[0]["batch"]} x {rs[0]["tokens"]}, {rs[0]["threads"]} threads, {rs[0].get("cpu")})')
PY
