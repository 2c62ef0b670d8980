#!/usr/bin/env bash
# Training seeds side by side or one after another? The cart-pole pixel
# model's fused step (batch 64) timed in one process on 1 and on 2
# training threads, then in two 1-thread processes at once (what
# `THREADS=1 docs/results/seeds/learn.sh` runs do), three rounds, all in
# this one run. From the repository root; UMWELT names the binary.
set -euo pipefail
UMWELT=${UMWELT:-target/release/umwelt}
OUT=docs/results/training_speed/side_by_side
CK=models/checkpoints/cartpole_swingup_pixels.uwwm
mkdir -p "$OUT"
bench() { "$UMWELT" bench train --engine fused --steps 300 --threads 1 --checkpoint "$CK" --json "$@"; }
lscpu > "$OUT/lscpu.txt"
uptime > "$OUT/load_before.txt"
for r in 1 2 3; do
    bench --train-threads 1,2 > "$OUT/alone_$r.json"
    bench --train-threads 1 > "$OUT/pair_a_$r.json" &
    a=$!
    bench --train-threads 1 > "$OUT/pair_b_$r.json"
    wait "$a"
done
uptime > "$OUT/load_after.txt"
python3 docs/results/training_speed/summarize_side_by_side.py
