#!/usr/bin/env bash
# `umwelt bench train` of both training engines (burn, fused) on the three
# shipped pixel models, 1 and 2 training threads, three rounds, nothing
# else running; from the repository root. Then summarize_fused.py writes
# fused_pixels_summary.md.
set -euo pipefail
UMWELT=${UMWELT:-target/release/umwelt}
OUT=docs/results/training_speed
uptime > $OUT/fused_pixels_load_before.txt
for r in 1 2 3; do
    "$UMWELT" bench train --engine burn,fused --steps 50 --json \
        --checkpoint models/checkpoints/cartpole_swingup_pixels.uwwm \
        --checkpoint models/checkpoints/reacher_easy_pixels.uwwm \
        --checkpoint models/checkpoints/arm_reach_pixels.uwwm > $OUT/fused_pixels_$r.json
done
uptime > $OUT/fused_pixels_load_after.txt
(cd $OUT && python3 summarize_fused.py fused_pixels)
