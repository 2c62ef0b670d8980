#!/usr/bin/env bash
# Where do the reacher's pixel models miss? The target's distance from the
# shoulder on each report seed (100-119), from the first frame of a zero-
# policy episode of that seed (`umwelt collect`, exported as a
# LeRobotDataset and read with pyarrow), beside every reacher pixel run's
# report episodes (../../seeds/reacher_easy_pixels*_s*/, ../../reacher_easy_pixels/eval/).
# From the repository root, with pyarrow installed:
#   docs/results/pixels/misses/run.sh
set -euo pipefail
UMWELT=${UMWELT:-target/release/umwelt}
PYTHON=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$UMWELT" collect --robot reacher --task easy --episodes 20 --seed 100 --policy zero --out "$tmp/data"
"$UMWELT" dataset export "$tmp/data" --format lerobot --out "$tmp/lerobot"
"$PYTHON" docs/results/pixels/misses/misses.py "$tmp/lerobot/data/chunk-000/file-000.parquet"
