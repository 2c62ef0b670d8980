#!/usr/bin/env bash
# Reproduces docs/results/pixels/ from the repository root with a release
# build on PATH (`umwelt`): the cart-pole learned from its side camera, its
# evaluation on seeds 100-119, the planner's cost with the encoder, and a
# real-time run against `umwelt sim --cameras side` over zenoh.
set -euo pipefail
out=docs/results/pixels
# A pixel recipe learned (runs/RUN), its files and checkpoint kept, and what
# it ships evaluated on seeds 100-119 beside random: pixel_model TASK RUN.
pixel_model() {
  umwelt learn --recipe "configs/learn/$1_pixels.toml" --out "runs/$2"
  cp "runs/$2"/{learn.json,curve.csv,curve.svg} "docs/results/$1_pixels/learn/"
  cp "runs/$2/final.uwwm" "models/checkpoints/$1_pixels.uwwm"
  umwelt eval --config "configs/mpc_$1_pixels.toml" --episodes 20 --seed 100 \
    --full-budget --baselines random --out "docs/results/$1_pixels/eval"
}
# Goal reaching on seeds 100-119: the oracle's end as a goal image (pixel
# models) or a goal observation (state models): goals CONFIG [FOLDER], for
# configs/mpc_CONFIG.toml into docs/results/goals/FOLDER (default CONFIG).
goals() {
  umwelt eval --config "configs/mpc_$1.toml" --goals-from oracle --episodes 20 --seed 100 \
    --full-budget --out "docs/results/goals/${2:-$1}"
}
pixel_model cartpole_swingup cartpole_pixels
# Per-decision cost, the pixel model beside the state model in the same run.
umwelt bench plan --robot cartpole --checkpoint models/checkpoints/cartpole_swingup_pixels.uwwm \
  --plans 300 --json > "$out/bench_plan_pixels.json"
umwelt bench plan --robot cartpole --checkpoint models/checkpoints/cartpole_swingup.uwwm \
  --plans 300 --json > "$out/bench_plan_state.json"
# 100 Hz over zenoh on loopback: the simulator renders the camera into every
# frame, the controller encodes it every 8th tick (its action repeat).
ep=tcp/127.0.0.1:28391
umwelt sim --robot cartpole --task swingup --cameras side --episodes 2 --json \
  --zenoh-endpoint "$ep" > "$out/realtime_sim.json" &
sim=$!
sleep 1
umwelt run --config configs/mpc_cartpole_swingup_pixels.toml --duration 21 --json \
  --zenoh-endpoint "$ep" > "$out/realtime_run.json"
wait "$sim"
# Reacher easy from its top camera and the arm from its oblique one (100k
# steps each), and goal reaching with each beside its state model.
pixel_model reacher_easy reacher_pixels
goals reacher_easy_pixels
goals reacher_easy reacher_easy_state
goals arm_reach arm_reach_state
pixel_model arm_reach arm_pixels
goals arm_reach_pixels
