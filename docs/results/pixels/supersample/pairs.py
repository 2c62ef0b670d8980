#!/usr/bin/env python3
"""The supersampled-camera experiment against one ray a pixel, seed by seed.

Both sides hold actions 4 control steps and choose their checkpoint on 20
held-out episodes; the figures are returns on the report seeds 100-119
(what the run ships, `--full-budget`). The supersampled runs are
../../seeds/reacher_easy_pixels_ar4_aa_s*/. One ray a pixel: for training
seeds 0, 10 and 11 the candidate that ../../selection/held_out_20/reselect.md
chose on 20 held-out episodes after the runs (played with `umwelt eval`,
bf16); for later seeds the runs of reacher_easy_pixels_ar4_sel20 (the same
recipe, choosing inside `umwelt learn`, f32), ../../seeds/
reacher_easy_pixels_ar4_sel20_s*/. Writes pairs.md here.

Run from anywhere: python3 docs/results/pixels/supersample/pairs.py
"""

import glob
import json
import os
import re
import statistics as st

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "..", "..")
SEEDS = os.path.join(RESULTS, "seeds")


def shipped(run_dir):
    """Return and success rate (%) of what a run ships, on seeds 100-119."""
    e = json.load(open(os.path.join(run_dir, "eval_final.json")))
    return e["avg_sum_reward"], e["pc_success"]


def runs(prefix):
    """{training seed: run folder} of an experiment's finished runs."""
    out = {}
    for d in glob.glob(os.path.join(SEEDS, prefix + "_s*")):
        m = re.fullmatch(re.escape(prefix) + r"_s(\d+)", os.path.basename(d))
        if m and os.path.exists(os.path.join(d, "eval_final.json")):
            out[int(m.group(1))] = d
    return out


def reselected():
    """{training seed: report return} of the 20-episode choices in reselect.md."""
    out = {}
    path = os.path.join(RESULTS, "selection", "held_out_20", "reselect.md")
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"reacher_easy_pixels_ar4_s(\d+)", cells[0])
        if m and "**(20)**" in cells[1]:
            out[int(m.group(1))] = float(cells[4])
    return out


def main():
    aa = runs("reacher_easy_pixels_ar4_aa")
    base = {s: (r, "reselect.md") for s, r in reselected().items()}
    for s, d in runs("reacher_easy_pixels_ar4_sel20").items():
        base.setdefault(s, (shipped(d)[0], os.path.basename(d)))
    rows, a_all, b_all = [], [], []
    for s in sorted(set(aa) & set(base)):
        a, succ = shipped(aa[s])
        b, src = base[s]
        rows.append(f"| {s} | {a:.1f} ({succ:.0f}%) | {b:.1f} | {a - b:+.1f} | {src} |")
        a_all.append(a)
        b_all.append(b)
    diffs = [a - b for a, b in zip(a_all, b_all)]
    n = len(diffs)
    sd = st.stdev(diffs) if n > 1 else float("nan")
    text = [
        "# Supersampled camera against one ray a pixel (reacher easy from pixels)",
        "",
        "Written by `pairs.py` (its docstring says where each figure comes from):",
        "returns on seeds 100-119 of what each run ships, action repeat 4, the",
        "checkpoint chosen on 20 held-out episodes.",
        "",
        "| training seed | supersampled (success) | one ray a pixel | difference | one ray: from |",
        "|---:|---:|---:|---:|---|",
        *rows,
        "",
        f"- {n} seeds: supersampled **{st.mean(a_all):.1f}**, one ray a pixel "
        f"**{st.mean(b_all):.1f}** (means of the figures above, reselect.md's "
        f"rounded to 0.1); difference {st.mean(diffs):+.1f} "
        f"(standard deviation {sd:.1f}, {sum(d > 0 for d in diffs)} of {n} seeds gain).",
        "",
    ]
    with open(os.path.join(HERE, "pairs.md"), "w") as f:
        f.write("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
