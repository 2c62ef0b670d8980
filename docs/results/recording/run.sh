#!/bin/sh
# Reproduces docs/results/recording: a 10 s real-time cart-pole recording per
# controller trigger, imported with `umwelt collect --from-recording`.
# Usage: docs/results/recording/run.sh [OUT]   (umwelt on PATH; repository root)
set -eu
OUT=${1:-runs/recording}
E=${E:-tcp/127.0.0.1:17750}
mkdir -p "$OUT"
for trigger in frame timer; do
  umwelt record 'umwelt/cartpole/**' --out "$OUT/$trigger.mcap" --duration 13 --zenoh-endpoint "$E" 2>/dev/null &
  sleep 1
  umwelt sim --robot cartpole --task swingup --duration 10 --zenoh-endpoint "$E" 2>/dev/null &
  umwelt run --config configs/cartpole_swingup.toml --trigger "$trigger" --duration 10.5 --json \
    --zenoh-endpoint "$E" > "$OUT/run_$trigger.json" 2>/dev/null
  wait
  umwelt collect --robot cartpole --task swingup --from-recording "$OUT/$trigger.mcap" \
    --out "$OUT/data_$trigger" --json > "$OUT/import_$trigger.json" 2> "$OUT/import_$trigger.txt"
done
