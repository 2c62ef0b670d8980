#!/usr/bin/env bash
# `umwelt train` (offline, from a dataset) with each engine and thread
# count on the same data, seed and steps: a state model (cart-pole, 40
# random episodes, the default sizes, batch 256) and a pixel model (10
# episodes with the side camera, batch 64), nothing else running; from
# the repository root. Each run's `--json` report goes to train_cli/, then
# summarize_train_cli.py writes train_cli/summary.md.
set -euo pipefail
UMWELT=${UMWELT:-target/release/umwelt}
OUT=docs/results/training_speed/train_cli
DATA=${DATA:-runs/train_cli}
mkdir -p "$OUT"
rm -rf "$DATA" && mkdir -p "$DATA"
lscpu > "$OUT/lscpu.txt"
"$UMWELT" collect --robot cartpole --task swingup --episodes 40 --policy random --seed 0 \
    --out "$DATA/state" --json > "$OUT/collect_state.json"
"$UMWELT" collect --robot cartpole --task swingup --episodes 10 --policy random --seed 0 \
    --camera side --hold 4 --out "$DATA/pixels" --json > "$OUT/collect_pixels.json"
uptime > "$OUT/load_before.txt"
for run in "burn 1" "burn 2" "fused 1" "fused 2"; do
    set -- $run
    "$UMWELT" train --data "$DATA/state" --out "$DATA/state_$1_$2.uwwm" --force \
        --steps 1500 --eval-every 0 --save-every 0 --eval-stride 20 \
        --train-engine "$1" --train-threads "$2" --json > "$OUT/state_$1_$2.json"
    "$UMWELT" train --data "$DATA/pixels" --out "$DATA/pixels_$1_$2.uwwm" --force \
        --obs pixels --camera side --action-repeat 4 --batch-size 64 \
        --steps 300 --eval-every 0 --save-every 0 --eval-stride 20 \
        --train-engine "$1" --train-threads "$2" --json > "$OUT/pixels_$1_$2.json"
    echo "$run done"
done
uptime > "$OUT/load_after.txt"
python3 docs/results/training_speed/summarize_train_cli.py "$OUT"
