#!/usr/bin/env bash
# Would a larger held-out selection have chosen better checkpoints for the
# reacher's pixel runs at 1.0 update per step? Each kept candidate of
# training seeds 10 and 11 (runs/seeds/reacher_easy_pixels_ups1.0_s*/,
# written by ../../seeds/learn.sh) on 20 held-out episodes from seed
# 3,000,000 (the selection's seeds; `learn` used the first 5), with the
# shipped planner config; then summarize.py writes summary.md beside the
# candidates' returns on the reporting seeds 100-119 (../../seeds/).
# From the repository root.
set -euo pipefail
UMWELT=${UMWELT:-target/release/umwelt}
OUT=docs/results/selection/reacher_pixels_20
for s in s10 s11; do
    for c in runs/seeds/reacher_easy_pixels_ups1.0_$s/candidates/*.uwwm; do
        n=$(basename "$c" .uwwm)
        cfg=configs/.eval_sel_${s}_$n.toml
        sed "s#^checkpoint = .*#checkpoint = \"$PWD/$c\"#" configs/mpc_reacher_easy_pixels.toml > "$cfg"
        "$UMWELT" eval --config "$cfg" --episodes 20 --seed 3000000 --full-budget --out "$OUT/${s}_$n"
        rm -f "$cfg" "$OUT/${s}_$n"/*.svg "$OUT/${s}_$n"/*.html
    done
done
(cd $OUT && python3 summarize.py)
