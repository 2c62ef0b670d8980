#!/usr/bin/env bash
# One evaluation of the shipped cart-pole model run whole and as 2 shards
# one after another, the shards merged, and the merged report compared
# with the whole one (docs/results/sharding/README.md).
# Run from the repository root after `cargo build --release`.
set -euo pipefail
UMWELT="${UMWELT:-target/release/umwelt}"
HERE=docs/results/sharding
OUT=runs/sharding
rm -rf "$OUT"
lscpu > "$HERE/lscpu.txt"
uptime > "$HERE/load.txt"

EVAL=(eval --config configs/mpc_cartpole_swingup.toml --episodes 20 --seed 100 --full-budget)
run() { echo "\$ umwelt $*"; "$UMWELT" "$@"; }
run "${EVAL[@]}" --out "$OUT/whole" 2>/dev/null | tee "$HERE/whole.log"
for k in 1 2; do
    run "${EVAL[@]}" --shard "$k/2" --out "$OUT/shard-$k" 2>/dev/null | tee "$HERE/shard-$k.log"
done
run eval merge --out "$OUT/merged" "$OUT/shard-1" "$OUT/shard-2" | tee "$HERE/merge.log"
uptime >> "$HERE/load.txt"

for d in whole merged shard-1 shard-2; do
    cp "$OUT/$d/eval.json" "$HERE/${d}_eval.json"
    cp "$OUT/$d/episodes.csv" "$HERE/${d}_episodes.csv"
done
cmp "$OUT/whole/returns.svg" "$OUT/merged/returns.svg" && cmp "$OUT/whole/traces.svg" "$OUT/merged/traces.svg" \
    && echo "returns.svg, traces.svg: identical bytes" > "$HERE/figures.txt"

# Python reads JSON floats correctly rounded, so == here is equality of
# the bits.
python3 - "$HERE" <<'PY' | tee "$HERE/compare.txt"
import json, sys
here = sys.argv[1]
w = json.load(open(f"{here}/whole_eval.json"))
m = json.load(open(f"{here}/merged_eval.json"))
keys = ["index", "seed", "ret", "length", "success", "max_reward", "safe_ticks", "interventions"]
same = all(all(a[k] == b[k] for k in keys) for a, b in zip(w["episodes"], m["episodes"]))
print(f"episodes: {len(w['episodes'])} whole, {len(m['episodes'])} merged; "
      f"index, seed, return, length, success, max reward, safe ticks, interventions all equal: {same}")
print("per_episode (LeRobot) equal:", w["per_episode"] == m["per_episode"])
print("per_task (LeRobot) equal:", w["per_task"] == m["per_task"])
for k in ["avg_sum_reward", "avg_sum_reward_ci95", "sum_reward_std", "pc_success", "pc_success_ci95", "avg_max_reward", "safe_ticks", "episodes"]:
    a, b = w["summary"][k], m["summary"][k]
    print(f"summary.{k}: whole {a}, merged {b}, equal: {a == b}")
print("timed (not comparable, measured by a clock):")
for k in ["eval_s", "eval_ep_s", "episodes_per_minute", "realtime_factor", "controller_p50_us", "controller_p99_us", "deadline_misses", "jobs"]:
    print(f"  summary.{k}: whole {w['summary'][k]}, merged {m['summary'][k]}")
mi = m["merged"]
print(f"merged: {mi['count']} shards, eval_s {', '.join(str(s['eval_s']) for s in mi['shards'])}; "
      f"wall_s (slowest) {mi['wall_s']}, machine_s (sum) {mi['machine_s']}, span_s {mi['span_s']:.3f}")
PY
