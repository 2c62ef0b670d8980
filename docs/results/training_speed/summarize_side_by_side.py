#!/usr/bin/env python3
"""Summarise side_by_side.sh: updates per second of the cart-pole pixel
model's fused step in one process on 1 and 2 threads, and of two 1-thread
processes at once (their sum), the median of the rounds, as ratios to one
process on 2 threads measured in the same run. Writes
side_by_side/summary.md and prints it.

Run from the repository root: python3 docs/results/training_speed/summarize_side_by_side.py
"""

import glob
import json
import os
import statistics as st

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "side_by_side")


def rates(path):
    with open(path) as f:
        doc = json.load(f)
    return {m["train_threads"]: m["updates_per_s"] for m in doc["models"]}


def main():
    rounds = sorted(glob.glob(os.path.join(HERE, "alone_*.json")))
    if not rounds:
        raise SystemExit(f"no alone_*.json in {HERE}: run side_by_side.sh first")
    one, two, pair = [], [], []
    for alone in rounds:
        r = alone.rsplit("_", 1)[1].removesuffix(".json")
        a = rates(alone)
        one.append(a[1])
        two.append(a[2])
        pa = rates(os.path.join(HERE, f"pair_a_{r}.json"))[1]
        pb = rates(os.path.join(HERE, f"pair_b_{r}.json"))[1]
        pair.append(pa + pb)
    base = st.median(two)
    rows = [
        ("one process, 1 thread", st.median(one), one),
        ("one process, 2 threads", base, two),
        ("two 1-thread processes at once (sum)", st.median(pair), pair),
    ]
    # The machine that ran the rounds (side_by_side.sh's lscpu), not the
    # one summarising them.
    with open(os.path.join(HERE, "lscpu.txt")) as f:
        lscpu = dict(line.split(":", 1) for line in f if ":" in line)
    cpu = f"{lscpu['Model name'].strip()}, {lscpu['CPU(s)'].strip()} CPUs"
    lines = [
        "Written by summarize_side_by_side.py from side_by_side.sh's reports.",
        "",
        f"Cart-pole pixel model, fused engine, batch 64; {len(rounds)} rounds, medians; {cpu}.",
        "",
        "| how | updates/s (median) | x one process on 2 threads | rounds |",
        "|---|---:|---:|---|",
    ]
    for name, med, all_ in rows:
        lines.append(
            f"| {name} | {med:.1f} | {med / base:.2f} | {', '.join(f'{v:.1f}' for v in all_)} |"
        )
    text = "\n".join(lines) + "\n"
    with open(os.path.join(HERE, "summary.md"), "w") as f:
        f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
