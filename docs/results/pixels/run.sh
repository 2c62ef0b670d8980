#!/usr/bin/env bash
# Reproduces docs/results/pixels/ from the repository root with a release
# build on PATH (`umwelt`): the cart-pole learned from its side camera, its
# evaluation on seeds 100-119, the planner's cost with the encoder, and a
# real-time run against `umwelt sim --cameras side` over zenoh.
set -euo pipefail
out=docs/results/pixels
umwelt learn --recipe configs/learn/cartpole_swingup_pixels.toml --out runs/cartpole_pixels
cp runs/cartpole_pixels/{learn.json,curve.csv,curve.svg} docs/results/cartpole_swingup_pixels/learn/
cp runs/cartpole_pixels/final.uwwm models/checkpoints/cartpole_swingup_pixels.uwwm
umwelt eval --config configs/mpc_cartpole_swingup_pixels.toml --episodes 20 --seed 100 \
  --full-budget --baselines random --out docs/results/cartpole_swingup_pixels/eval
# Per-decision cost, the pixel model beside the state model in the same run.
umwelt bench plan --robot cartpole --checkpoint models/checkpoints/cartpole_swingup_pixels.uwwm \
  --plans 300 --json > "$out/bench_plan_pixels.json"
umwelt bench plan --robot cartpole --checkpoint models/checkpoints/cartpole_swingup.uwwm \
  --plans 300 --json > "$out/bench_plan_state.json"
# 100 Hz over zenoh on loopback: the simulator renders the camera into every
# frame, the controller encodes it every 4th tick (its action repeat).
ep=tcp/127.0.0.1:28391
umwelt sim --robot cartpole --task swingup --cameras side --episodes 2 --json \
  --zenoh-endpoint "$ep" > "$out/realtime_sim.json" &
sim=$!
sleep 1
umwelt run --config configs/mpc_cartpole_swingup_pixels.toml --duration 21 --json \
  --zenoh-endpoint "$ep" > "$out/realtime_run.json"
wait "$sim"
# Reacher easy from its top camera (60k steps).
umwelt learn --recipe configs/learn/reacher_easy_pixels.toml --out runs/reacher_pixels
cp runs/reacher_pixels/{learn.json,curve.csv,curve.svg} docs/results/reacher_easy_pixels/learn/
cp runs/reacher_pixels/final.uwwm models/checkpoints/reacher_easy_pixels.uwwm
umwelt eval --config configs/mpc_reacher_easy_pixels.toml --episodes 20 --seed 100 \
  --full-budget --baselines random --out docs/results/reacher_easy_pixels/eval
# Goal reaching: the oracle's end as a goal image (pixel models) or a goal
# observation (state models), seeds 100-119.
umwelt eval --config configs/mpc_reacher_easy_pixels.toml --goals-from oracle --episodes 20 --seed 100 \
  --full-budget --out docs/results/goals/reacher_easy_pixels
umwelt eval --config configs/mpc_reacher_easy.toml --goals-from oracle --episodes 20 --seed 100 \
  --full-budget --out docs/results/goals/reacher_easy_state
umwelt eval --config configs/mpc_arm_reach.toml --goals-from oracle --episodes 20 --seed 100 \
  --full-budget --out docs/results/goals/arm_reach_state
umwelt learn --recipe configs/learn/arm_reach_pixels.toml --out runs/arm_pixels
cp runs/arm_pixels/{learn.json,curve.csv,curve.svg} docs/results/arm_reach_pixels/learn/
cp runs/arm_pixels/final.uwwm models/checkpoints/arm_reach_pixels.uwwm
umwelt eval --config configs/mpc_arm_reach_pixels.toml --episodes 20 --seed 100 \
  --full-budget --baselines random --out docs/results/arm_reach_pixels/eval
umwelt eval --config configs/mpc_arm_reach_pixels.toml --goals-from oracle --episodes 20 --seed 100 \
  --full-budget --out docs/results/goals/arm_reach_pixels
