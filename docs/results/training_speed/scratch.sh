#!/usr/bin/env bash
# The fused pixel step before and after its convolutions took their
# buffers from a per-thread pool and scaled pixels a plane at a time
# (models/src/world_model/train/fused/scratch.rs): `umwelt bench train` of
# both builds on the shipped cart-pole pixel model (batch 64 x horizon 3),
# fused engine, 2 training threads, alternating, five rounds each; from the
# repository root, OLD naming the build before. Then summarize_scratch.py
# writes scratch_summary.md.
set -euo pipefail
OLD=${OLD:?OLD: the umwelt binary built before the change}
NEW=${NEW:-target/release/umwelt}
OUT=docs/results/training_speed
RUNS=$OUT/scratch_runs.jsonl
: > "$RUNS"
lscpu > $OUT/scratch_lscpu.txt
uptime > $OUT/scratch_load_before.txt
for r in 1 2 3 4 5; do
    for b in before after; do
        if [ $b = before ]; then U=$OLD; else U=$NEW; fi
        json=$("$U" bench train --engine fused --train-threads 2 --steps 100 --json \
            --checkpoint models/checkpoints/cartpole_swingup_pixels.uwwm)
        printf '{"build": "%s", "round": %d, "bench": %s}\n' $b $r "$(echo "$json" | tr -d '\n')" >> "$RUNS"
    done
done
uptime > $OUT/scratch_load_after.txt
(cd $OUT && python3 summarize_scratch.py)
