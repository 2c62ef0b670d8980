#!/usr/bin/env bash
# `umwelt bench train` of both training engines (burn, fused) on 1 and 2
# training threads, three rounds, nothing else running; from the repository
# root. Then summarize_fused.py writes fused_summary.md.
set -euo pipefail
UMWELT=${UMWELT:-target/release/umwelt}
OUT=docs/results/training_speed
uptime > $OUT/fused_load_before.txt
for r in 1 2 3; do
    # The five state models (pixel models train on burn's engine only).
    "$UMWELT" bench train --engine burn,fused --steps 100 --json \
        --checkpoint models/checkpoints/arm_reach.uwwm --checkpoint models/checkpoints/cartpole_swingup.uwwm \
        --checkpoint models/checkpoints/pendulum_swingup.uwwm --checkpoint models/checkpoints/reacher_easy.uwwm \
        --checkpoint models/checkpoints/reacher_hard.uwwm > $OUT/fused_$r.json
done
uptime > $OUT/fused_load_after.txt
(cd $OUT && python3 summarize_fused.py)
