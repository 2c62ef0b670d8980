#!/usr/bin/env bash
# Does measuring closeness to a goal as observations (what the model's
# decoder reads from the two latents) instead of latents help goal
# reaching? On held-out seeds 300-309: the reacher's pixel model (goal
# images; its latent-distance run on these seeds is ../temperature/t0.5)
# and the arm's state model (goal observations), each with
# --goal-distance observation, and the arm also with latent. From the
# repository root; writes reacher_pixels_observation/, arm_observation/
# and arm_latent/ here (goals.json, goals.csv; goal images not kept).
set -euo pipefail
UMWELT=${UMWELT:-target/release/umwelt}
OUT=docs/results/goals/distance
run() {
    local config=$1 distance=$2 dir=$3
    "$UMWELT" eval --config "$config" --goals-from oracle --goal-distance "$distance" \
        --episodes 10 --seed 300 --full-budget --out "$OUT/$dir"
    rm -rf "$OUT/$dir/goals"
}
run configs/mpc_reacher_easy_pixels.toml observation reacher_pixels_observation
run configs/mpc_arm_reach.toml observation arm_observation
run configs/mpc_arm_reach.toml latent arm_latent
