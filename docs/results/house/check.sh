#!/usr/bin/env bash
# The house refactor changed no result and no speed. Usage:
#   bash docs/results/house/check.sh BEFORE_BIN AFTER_BIN [eval|plan|all]
# BEFORE_BIN / AFTER_BIN: `umwelt` binaries built from the commit before the
# refactor and from this one (release). Writes docs/results/house/*.json.
set -euo pipefail
before=$1; after=$2; part=${3:-all}
here=$(dirname "$0"); runs=runs/house; mkdir -p "$runs"

if [ "$part" != plan ]; then
# 1. Every shipped checkpoint, seeds 100-119, every planner iteration run:
#    the returns of the new binary against the shipped eval.json, bit for bit.
for task in cartpole_swingup pendulum_swingup reacher_easy reacher_hard arm_reach; do
    "$after" eval --config "configs/mpc_$task.toml" --episodes 20 --seed 100 \
        --full-budget --jobs 2 --out "$runs/$task" --json > "$runs/$task.json"
    echo "eval $task done" >&2
done
python3 - "$runs" "$here/eval_identity.json" <<'PY'
import json, sys
runs, out = sys.argv[1], sys.argv[2]
rows = []
for task in ["cartpole_swingup", "pendulum_swingup", "reacher_easy", "reacher_hard", "arm_reach"]:
    new = json.load(open(f"{runs}/{task}.json"))["episodes"]
    old = json.load(open(f"docs/results/{task}/eval/eval.json"))["episodes"]
    key = lambda e: (e["seed"], e["ret"], e["length"], e["success"])
    same = [key(a) == key(b) for a, b in zip(new, old)]
    rows.append({"task": task, "episodes": len(new), "identical": sum(same),
                 "mean_return_new": sum(e["ret"] for e in new) / len(new),
                 "mean_return_shipped": sum(e["ret"] for e in old) / len(old)})
json.dump({"what": "umwelt eval --full-budget, seeds 100-119, vs shipped eval.json",
           "tasks": rows}, open(out, "w"), indent=2)
print(json.dumps(rows, indent=2))
PY

fi

if [ "$part" != eval ]; then
# 2. Planning speed: `umwelt bench plan` of the shipped cart-pole model,
#    before and after alternately, same machine, same minute.
: > "$runs/plan.jsonl"
for round in 1 2 3 4 5; do
    for which in before after; do
        bin=$before; [ "$which" = after ] && bin=$after
        "$bin" bench plan --checkpoint models/checkpoints/cartpole_swingup.uwwm --json \
            | python3 -c "import json,sys; d=json.load(sys.stdin); d['which']='$which'; d['round']=$round; print(json.dumps(d))" \
            >> "$runs/plan.jsonl"
        echo "bench plan $which round $round done" >&2
    done
done
python3 - "$runs/plan.jsonl" "$here/bench_plan.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def p50(d):
    return d["ms_p50"]
def paced(d):
    return d["paced"]["ms_p50"]
pairs = []
for r in sorted({d["round"] for d in rows}):
    b = next(d for d in rows if d["round"] == r and d["which"] == "before")
    a = next(d for d in rows if d["round"] == r and d["which"] == "after")
    pairs.append({"round": r, "before_ms_p50": p50(b), "after_ms_p50": p50(a),
                  "ratio": p50(a) / p50(b),
                  "before_paced_ms_p50": paced(b), "after_paced_ms_p50": paced(a),
                  "paced_ratio": paced(a) / paced(b),
                  "bf16_kernel": [b["bf16_kernel"], a["bf16_kernel"]]})
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
json.dump({"what": "umwelt bench plan --checkpoint models/checkpoints/cartpole_swingup.uwwm, alternating",
           "cpu": cpu, "nproc": __import__("os").cpu_count(), "rounds": pairs}, open(sys.argv[2], "w"), indent=2)
print(json.dumps(pairs, indent=2))
PY
fi
