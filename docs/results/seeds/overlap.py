#!/usr/bin/env python3
"""Do the report seeds' episodes score higher where a run trained on them?

A run with training seed S plays its training episodes on seeds S, S+1, ...
(S + episodes - 1), so the runs with training seeds 10 and 11 (100
episodes) trained on seeds 100-109 and 100-110, ten or eleven of the
report seeds 100-119 that every evaluation in this folder plays. This
splits each run's shipped checkpoint's (final.uwwm) 20 report episodes into
the seeds it trained on and the others, and sets the same split of the
seed-0 runs (which trained on none of them) beside it: the report seeds
100-109/110 may simply be easier or harder than 110/111-119.

    python3 docs/results/seeds/overlap.py   # writes overlap.md beside it
"""
import csv
import glob
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def main():
    rows = []
    for d in sorted(glob.glob(os.path.join(HERE, "*_s*"))):
        episodes_csv = os.path.join(d, "eval_final_episodes.csv")
        learn_json = os.path.join(d, "learn.json")
        if not (os.path.isfile(episodes_csv) and os.path.isfile(learn_json)):
            continue
        with open(learn_json) as f:
            learn = json.load(f)
        seed = learn["options"]["seed"]
        trained = range(seed, seed + learn["episodes"])
        with open(episodes_csv) as f:
            report = [(int(r["seed"]), float(r["return"])) for r in csv.DictReader(f)]
        # The seed-0 runs have no overlap: their control split is the one
        # a seed-10 run's overlap makes (seeds 100-109 against 110-119).
        split = trained if seed != 0 else range(100, 110)
        inside = [r for s, r in report if s in split]
        outside = [r for s, r in report if s not in split]
        overlap = sum(1 for s, _ in report if s in trained)
        rows.append((os.path.basename(d), seed, overlap, inside, outside))
    out = [
        "# Report seeds a run trained on",
        "",
        "Written by `overlap.py`. Report seeds 100-119 (every evaluation",
        "here); a run with training seed S trained on seeds S..S+episodes-1.",
        "`trained on` is the mean return of the report seeds among those,",
        "`not` of the others; for seed-0 runs (no overlap) the same split",
        "(100-109 against 110-119) as a control.",
        "",
        "| run | training seed | report seeds trained on | mean there (or 100-109) | mean on the others | difference |",
        "|---|---|---|---|---|---|",
    ]
    diffs = {True: [], False: []}
    for name, seed, overlap, inside, outside in rows:
        diff = mean(inside) - mean(outside)
        diffs[overlap > 0].append(diff)
        out.append(
            f"| {name} | {seed} | {overlap} | {mean(inside):.1f} ({len(inside)}) "
            f"| {mean(outside):.1f} ({len(outside)}) | {diff:+.1f} |"
        )
    out += [
        "",
        f"Mean difference over the {len(diffs[True])} runs that trained on report seeds: "
        f"**{mean(diffs[True]):+.1f}**; over the {len(diffs[False])} seed-0 runs' control "
        f"split: **{mean(diffs[False]):+.1f}**.",
        "",
    ]
    with open(os.path.join(HERE, "overlap.md"), "w") as f:
        f.write("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
