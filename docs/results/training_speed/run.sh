#!/usr/bin/env bash
# `umwelt bench train` before and after, alternating, three rounds; from the
# repository root. BEFORE: an umwelt built from b1314a2^ plus the bench alone
# (burn without its simd kernels, one training thread); AFTER: this tree's.
set -euo pipefail
BEFORE=${BEFORE:?path of the before binary}
AFTER=${AFTER:-target/release/umwelt}
OUT=docs/results/training_speed
lscpu > $OUT/lscpu.txt
uptime > $OUT/load_before.txt
for r in 1 2 3; do
    "$BEFORE" bench train --json > $OUT/before_$r.json
    "$AFTER" bench train --json > $OUT/after_$r.json
done
uptime > $OUT/load_after.txt
