#!/usr/bin/env bash
# Does a sharper MPPI weighting help goal images? The reacher's pixel
# model towards the oracle's end images of held-out seeds 300-309, with
# the shipped planner (temperature 0.5) and with temperature 20: a goal's
# values are squared latent distances, whose spread between samples is
# far smaller than a task's returns, so at 0.5 the elites weigh almost
# alike. From the repository root; writes t0.5/ and t20/ here.
set -euo pipefail
UMWELT=${UMWELT:-target/release/umwelt}
OUT=docs/results/goals/temperature
for t in 0.5 20; do
    sed "s/^temperature = 0.5/temperature = $t/" configs/mpc_reacher_easy_pixels.toml > configs/.eval_rp_t$t.toml
    "$UMWELT" eval --config configs/.eval_rp_t$t.toml --goals-from oracle --episodes 10 --seed 300 \
        --full-budget --out $OUT/t$t
    rm -rf $OUT/t$t/goals configs/.eval_rp_t$t.toml
done
