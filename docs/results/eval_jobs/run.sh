#!/usr/bin/env bash
# `umwelt eval` of the shipped cart-pole model, 20 episodes, --jobs 1 then
# --jobs 2 then --jobs 1 again, from the repository root.
set -euo pipefail
UMWELT=${UMWELT:-target/release/umwelt}
OUT=docs/results/eval_jobs
lscpu > $OUT/lscpu.txt
for run in jobs1 jobs2 jobs1b; do
    jobs=${run#jobs}; jobs=${jobs%b}
    rm -rf runs/eval_jobs/$run
    "$UMWELT" eval --config configs/mpc_cartpole_swingup.toml --episodes 20 --seed 100 \
        --full-budget --jobs "$jobs" --out runs/eval_jobs/$run > $OUT/$run.log 2>&1
    cp runs/eval_jobs/$run/eval.json $OUT/$run.eval.json
    cp runs/eval_jobs/$run/episodes.csv $OUT/$run.episodes.csv
done
