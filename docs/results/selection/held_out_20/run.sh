#!/usr/bin/env bash
# Held-out selection with 20 episodes per candidate instead of the recipes'
# 5: every candidate a finished run kept (runs/seeds/RUN/candidates/) plays
# seeds 3,000,000-3,000,019 (the held-out seeds `umwelt learn` selects on;
# its own 5 are the first five), noise-free as the report's evaluations
# (the run config, --full-budget); then reselect.py picks the best and sets
# its return on the report seeds 100-119 beside what the run shipped.
# From the repository root, after the runs (docs/results/seeds/learn.sh):
#   docs/results/selection/held_out_20/run.sh reacher_easy_pixels_ar4_s0 ...
# RUN_CONFIG: the runs' run config (default the reacher AR4 experiment's).
# REPORT=1: also play seeds 100-119 with each candidate whose bytes are none
# of the run's evaluated final/model/best (reselect.py needs the chosen
# one's); the choice itself never sees these.
set -euo pipefail
UMWELT=${UMWELT:-target/release/umwelt}
RUN_CONFIG=${RUN_CONFIG:-docs/results/seeds/experiments/mpc_reacher_easy_pixels_ar4.toml}
# Twenty noise-free episodes of candidate CK from SEED, kept as
# $out/<steps>_KIND.{log,json} and _episodes.csv: play CK SEED KIND.
play() {
    local ck=$1 seed=$2 kind=$3 steps cfg
    steps=$(basename "$ck" .uwwm)
    cfg=configs/.eval_reselect_${name}_$steps.toml
    sed "s|^checkpoint = .*|checkpoint = \"$ck\"|" "$RUN_CONFIG" > "$cfg"
    "$UMWELT" eval --config "$cfg" --episodes 20 --seed "$seed" --full-budget \
        --out "$run/${kind}_$steps" > "$out/${steps}_$kind.log" 2>&1
    rm "$cfg"
    cp "$run/${kind}_$steps/eval.json" "$out/${steps}_$kind.json"
    cp "$run/${kind}_$steps/episodes.csv" "$out/${steps}_${kind}_episodes.csv"
}
for name in "$@"; do
    run=$(cd "runs/seeds/$name" && pwd)
    out=docs/results/selection/held_out_20/$name
    mkdir -p "$out"
    for ck in "$run"/candidates/steps_*.uwwm; do
        steps=$(basename "$ck" .uwwm)
        [ -f "$out/${steps}_held_out.json" ] && continue
        play "$ck" 3000000 held_out
        sha256sum "$ck" | cut -d' ' -f1 > "$out/${steps}.sha256"
    done
    [ "${REPORT:-0}" = 1 ] || continue
    for ck in "$run"/candidates/steps_*.uwwm; do
        steps=$(basename "$ck" .uwwm)
        sum=$(sha256sum "$ck" | cut -d' ' -f1)
        evaluated=0
        for own in final model best; do
            if [ -f "docs/results/seeds/$name/eval_${own}_episodes.csv" ] && [ -f "$run/$own.uwwm" ] \
                && [ "$(sha256sum "$run/$own.uwwm" | cut -d' ' -f1)" = "$sum" ]; then
                evaluated=1
            fi
        done
        [ "$evaluated" = 1 ] || [ -f "$out/${steps}_report_episodes.csv" ] && continue
        play "$ck" 100 report
    done
done
