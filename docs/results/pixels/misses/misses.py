#!/usr/bin/env python3
"""misses.md: each report seed's target distance from the shoulder (from
the LeRobotDataset run.sh exports: first frame of each episode, the
finger's position by the arm's kinematics plus `to_target`) beside how
many of the reacher pixel runs' shipped checkpoints hit it (return > 500),
and the hit rate by distance band.

    python3 misses.py LEROBOT_PARQUET
"""
import csv
import glob
import math
import os
import sys

import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.dirname(os.path.dirname(HERE))
# The reacher's links (sim/src/robots/reacher.rs): shoulder to wrist
# 0.12 m, wrist to finger 0.12 m.
UPPER, LOWER = 0.12, 0.12
FIRST_SEED = 100
HIT = 500.0


def target_distances(parquet):
    t = pq.read_table(parquet).to_pydict()
    out = {}
    for i, frame in enumerate(t["frame_index"]):
        if frame != 0:
            continue
        cos, sin, wrist, dx, dy = t["observation.state"][i][:5]
        shoulder = math.atan2(sin, cos)
        fx = UPPER * math.cos(shoulder) + LOWER * math.cos(shoulder + wrist)
        fy = UPPER * math.sin(shoulder) + LOWER * math.sin(shoulder + wrist)
        out[FIRST_SEED + t["episode_index"][i]] = math.hypot(fx + dx, fy + dy)
    return out


def runs():
    files = sorted(glob.glob(os.path.join(RESULTS, "seeds", "reacher_easy_pixels*_s*", "eval_final_episodes.csv")))
    files.append(os.path.join(RESULTS, "reacher_easy_pixels", "eval", "episodes.csv"))
    out = {}
    for f in files:
        name = os.path.relpath(os.path.dirname(f), RESULTS)
        with open(f) as fh:
            out[name] = {int(r["seed"]): float(r["return"]) for r in csv.DictReader(fh)}
    return out


def main():
    dist = target_distances(sys.argv[1])
    by_run = runs()
    n = len(by_run)
    lines = [
        "# Reacher from pixels: hits by the target's distance",
        "",
        f"Written by `misses.py`. {n} shipped checkpoints of reacher pixel runs",
        "(" + ", ".join(f"`{k}`" for k in by_run) + "),",
        f"each on seeds 100-119; a hit is a return above {HIT:.0f}.",
        "",
        "| seed | target from the shoulder (m) | hits |",
        "|---:|---:|---:|",
    ]
    hits = {}
    for seed in sorted(dist, key=dist.get):
        h = sum(1 for r in by_run.values() if r.get(seed, 0.0) > HIT)
        hits[seed] = h
        lines.append(f"| {seed} | {dist[seed]:.3f} | {h} of {n} |")
    lines += ["", "| target distance | seeds | hit rate |", "|---|---:|---:|"]
    for lo, hi in ((0.0, 0.09), (0.09, 0.14), (0.14, 0.25)):
        seeds = [s for s in dist if lo <= dist[s] < hi]
        rate = sum(hits[s] for s in seeds) / (n * len(seeds)) if seeds else float("nan")
        lines.append(f"| {lo:.2f}-{hi:.2f} m | {len(seeds)} | {100 * rate:.0f}% |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(HERE, "misses.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
