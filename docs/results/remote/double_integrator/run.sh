#!/bin/sh
# Reproduces docs/results/remote/double_integrator: umwelt learns a robot it
# does not simulate (drivers/python/examples/double_integrator.py, a point
# mass integrated in numpy, served over zenoh in lockstep), whose reward is
# defined in its description file; then the learned checkpoint and a random
# controller are evaluated on the same 10 seeded episodes, over the wire.
# The same commands as runtime/tests/remote_learning.rs.
# Usage: docs/results/remote/double_integrator/run.sh [OUT]
#   (repository root; umwelt on PATH or in $UMWELT; python3 with the driver
#   kit: python3 -m pip install ./drivers/python)
set -eu
OUT=${1:-runs/remote_double_integrator}
E=${E:-tcp/127.0.0.1:17950}
UMWELT=${UMWELT:-umwelt}
HERE=$(dirname "$0")
D=$(pwd)/drivers/python/examples/double_integrator.toml
rm -rf "$OUT" && mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

python3 drivers/python/examples/double_integrator.py --robot di_test --lockstep --endpoint "$E" \
  2> "$OUT/driver.txt" &
DRIVER=$!
trap 'kill $DRIVER 2>/dev/null || true' EXIT

t0=$(date +%s.%N)
"$UMWELT" learn --remote --name di_test --zenoh-endpoint "$E" --robot "$D" --task reach \
  --out "$OUT/learn" --steps 4000 --seed 1 --action-repeat 2 --seed-episodes 5 \
  --eval-every 5 --eval-episodes 2 --samples 128 --iterations 4 --horizon 3 --hidden 64 \
  --json > "$OUT/learn_summary.json" 2> "$OUT/learn.txt"
t1=$(date +%s.%N)

config() { # NAME CONTROLLER-TOML
  printf 'robot = "%s"\nname = "di_test"\ntask = "reach"\n\n%b' "$D" "$2" > "$OUT/$1.toml"
}
config learned "[controller]\nkind = \"mpc\"\nmodel = \"learned\"\ncheckpoint = \"$OUT/learn/model.uwwm\"\nthreads = 1\n\n[controller.planner]\nsamples = 128\nelites = 16\niterations = 4\nhorizon = 3\npolicy_samples = 8\naction_repeat = 2\nhold = true\nseed = 0\n\n[safety]\ndeadline_periods = 20\n"
config random "[controller]\nkind = \"random\"\nseed = 0\n"
for c in learned random; do
  "$UMWELT" eval --remote --full-budget --config "$OUT/$c.toml" --episodes 10 --seed 1000 \
    --out "$OUT/eval_$c" --zenoh-endpoint "$E" --json > /dev/null 2> "$OUT/eval_$c.txt"
done

cp "$OUT/learn/curve.csv" "$OUT/learn/curve.svg" "$OUT/learn/remote.json" "$HERE/"
cp "$OUT/eval_learned/eval.json" "$HERE/eval_learned.json"
cp "$OUT/eval_random/eval.json" "$HERE/eval_random.json"
python3 - "$OUT" "$t0" "$t1" > "$HERE/summary.json" <<'PY'
import json, sys
out, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
ev = {c: json.load(open(f"{out}/eval_{c}/eval.json")) for c in ("learned", "random")}
remote = json.load(open(f"{out}/learn/remote.json"))
print(json.dumps({
    "learn_wall_s": round(t1 - t0, 1),
    "learn_frames": remote["frames"],
    "learn_frames_missed": remote["frames_missed"],
    "learn_cuts": remote["cuts"],
    "eval_episodes": 10,
    "eval_seeds": "1000-1009",
    **{f"{c}_mean_return": round(e["avg_sum_reward"], 2) for c, e in ev.items()},
    **{f"{c}_return_std": round(e["summary"]["sum_reward_std"], 2) for c, e in ev.items()},
    **{f"{c}_success_pc": e["pc_success"] for c, e in ev.items()},
    **{f"{c}_frames_missed": e["remote"]["frames_missed"] for c, e in ev.items()},
    **{f"{c}_cuts": e["remote"]["cuts"] for c, e in ev.items()},
}, indent=2))
PY
cat "$HERE/summary.json"
