#!/usr/bin/env bash
# Is the planner's lookahead what keeps the arm's state model from
# reaching goal observations? Goal mode scores only a rollout's last latent
# and has no value to look further, and the shipped arm config looks 2 model
# steps (4 ticks, 80 ms) ahead. On held-out seeds 300-309 (as
# ../distance/arm_latent, horizon 2 x 8 iterations), the same model and
# latent distance with horizon 8 (16 ticks, 320 ms) x 4 iterations: the
# config is configs/mpc_arm_reach.toml with those two lines changed, written
# into configs/ meanwhile (its paths are relative to configs/). From the
# repository root; writes arm_h8/ here (goals.json, goals.csv).
set -euo pipefail
UMWELT=${UMWELT:-target/release/umwelt}
OUT=docs/results/goals/horizon
CFG=configs/.eval_goal_arm_h8.toml
sed -e 's|^horizon = 2|horizon = 8|' -e 's|^iterations = 8|iterations = 4|' configs/mpc_arm_reach.toml > "$CFG"
"$UMWELT" eval --config "$CFG" --goals-from oracle --goal-distance latent \
    --episodes 10 --seed 300 --full-budget --out "$OUT/arm_h8"
rm "$CFG"
rm -rf "$OUT/arm_h8/goals"
