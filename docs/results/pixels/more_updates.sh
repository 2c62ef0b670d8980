#!/usr/bin/env bash
# The cart-pole pixel recipe of 2026-12-04 (actions held 4 control steps;
# training seed 0) with 1.0 update per environment step (100,000 updates
# of 64 where the recipe before had 0.4, 40,000); what it ships evaluated
# on seeds 100-119. It was the shipped model from 2026-12-04 until the
# recipe moved to action repeat 8 on 2026-12-05; its recipe and run config
# are now docs/results/seeds/experiments/cartpole_swingup_pixels_ar4.toml
# and mpc_cartpole_swingup_pixels_ar4.toml (the flag below changes
# nothing: the recipe says 1.0). From the repository root; UMWELT names the
# binary.
set -euo pipefail
UMWELT=${UMWELT:-target/release/umwelt}
OUT=docs/results/pixels/more_updates
RUN=${RUNS:-runs/experiments}/cartpole_pixels_ups1
rm -rf "$RUN" && mkdir -p "$OUT" "$(dirname "$RUN")"
uptime > "$OUT/load_start.txt"
"$UMWELT" learn --recipe docs/results/seeds/experiments/cartpole_swingup_pixels_ar4.toml --updates-per-step 1.0 \
    --out "$RUN" > "$OUT/learn_stdout.txt" 2> "$OUT/learn_stderr.txt"
uptime > "$OUT/load_end.txt"
cp "$RUN"/learn.json "$RUN"/curve.csv "$RUN"/curve.svg "$OUT/"
RUN_ABS=$(cd "$RUN" && pwd)
CFG=configs/.eval_cartpole_pixels_ups1.toml
sed "s|^checkpoint = .*|checkpoint = \"$RUN_ABS/final.uwwm\"|" docs/results/seeds/experiments/mpc_cartpole_swingup_pixels_ar4.toml > "$CFG"
"$UMWELT" eval --config "$CFG" --episodes 20 --seed 100 --full-budget \
    --out "$RUN/eval_final" > "$OUT/eval_final.log" 2>&1
rm "$CFG"
cp "$RUN/eval_final/episodes.csv" "$OUT/eval_final_episodes.csv"
cp "$RUN/eval_final/eval.json" "$OUT/eval_final.json"
