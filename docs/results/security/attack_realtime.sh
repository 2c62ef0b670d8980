#!/usr/bin/env bash
# The hostile peer against a real-time run, as issue 25 asks: `umwelt sim`
# (real time, recording its own returns) + `umwelt run` with the shipped
# learned MPC on the cart-pole swing-up, 18 episodes (3 minutes) from seed
# 100, once quiet and once with `umwelt-attack flood` at 1,000 msg/s for the
# whole run. Writes sim_*.json, run_*.json, attack.json and summary.json
# beside this script. Run from the repository root after a release build:
#
#   bash docs/results/security/attack_realtime.sh [target/release]
set -euo pipefail
bin="${1:-target/release}"
out="$(dirname "$0")"
episodes=18
one() {
    local mode="$1" endpoint="tcp/127.0.0.1:$2"
    "$bin/umwelt" sim --robot cartpole --task swingup --seed 100 --episodes "$episodes" \
        --json --zenoh-endpoint "$endpoint" > "$out/sim_$mode.json" 2> "$out/sim_$mode.log" &
    local sim=$!
    sleep 1
    "$bin/umwelt" run --config configs/mpc_cartpole_swingup.toml --seed 100 \
        --json --zenoh-endpoint "$endpoint" > "$out/run_$mode.json" 2> "$out/run_$mode.log" &
    local run=$!
    if [ "$mode" = attacked ]; then
        "$bin/umwelt-attack" flood --robot cartpole --rate 1000 --duration 185 --json \
            --zenoh-endpoint "$endpoint" > "$out/attack.json" &
    fi
    wait "$sim"
    kill -INT "$run"
    wait
}
one quiet 17461
one attacked 17462
python3 - "$out" <<'PY'
import json, sys, statistics
out = sys.argv[1]
load = lambda f: json.load(open(f"{out}/{f}"))
q, a, atk = load("sim_quiet.json"), load("sim_attacked.json"), load("attack.json")
rq, ra = load("run_quiet.json"), load("run_attacked.json")
cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
flags = sorted({w for l in open("/proc/cpuinfo") if l.startswith("flags") for w in l.split() if w.startswith("avx512") or w == "avx2"})
summary = {
    "cpu": cpu, "cpu_flags": flags,
    "episodes": len(a["returns"]),
    "mean_return_quiet": statistics.mean(q["returns"]),
    "mean_return_attacked": statistics.mean(a["returns"]),
    "ratio": statistics.mean(a["returns"]) / statistics.mean(q["returns"]),
    "hostile_messages": atk["total"], "hostile_rate_hz": atk["rate_hz"], "attack_s": atk["wall_s"],
    "sim_dropped_attacked": dict(a["dropped"]), "sim_dropped_quiet": dict(q["dropped"]),
    "loop_dropped_attacked": dict(ra["dropped"]),
    "safe_steps_quiet": q["safe_steps"], "safe_steps_attacked": a["safe_steps"],
    "loop_safe_ticks_quiet": rq["safe_ticks"], "loop_safe_ticks_attacked": ra["safe_ticks"],
    "loop_misses_quiet": rq["misses"], "loop_misses_attacked": ra["misses"],
}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=1)
print(json.dumps(summary, indent=1))
PY
