#!/usr/bin/env bash
# How often each seed policy's episodes touch the reacher's target: 20
# episodes (seeds 500-519) of each, every action held 4 control steps as in
# the action-repeat-4 experiments, from the robot's state (the policy does
# not look, so the camera changes nothing). Writes seed_policy_<policy>.json
# (`umwelt collect --json`) and seed_policy.md here. From the repository root:
#   docs/results/pixels/misses/seed_policy.sh
set -euo pipefail
UMWELT=${UMWELT:-target/release/umwelt}
HERE=docs/results/pixels/misses
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for p in random smooth hold; do
    "$UMWELT" collect --robot reacher --task easy --episodes 20 --policy "$p" --hold 4 \
        --seed 500 --out "$TMP/$p" --json > "$HERE/seed_policy_$p.json"
done
python3 - "$HERE" <<'PY'
import json, sys
here = sys.argv[1]
rows = ["# Seed policies on the reacher: how often an episode touches the target",
        "", "Written by `seed_policy.sh`: 20 episodes each (seeds 500-519), actions held 4 control steps.",
        "", "| policy | mean return | episodes with a return above 0 |", "|---|---:|---:|"]
for p in ("random", "smooth", "hold"):
    r = [e["return"] for e in json.load(open(f"{here}/seed_policy_{p}.json"))["episodes"]]
    rows.append(f"| {p} | {sum(r) / len(r):.1f} | {sum(x > 0 for x in r)} of {len(r)} |")
open(f"{here}/seed_policy.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
