#!/usr/bin/env python3
"""Held-out selection with 20 episodes per candidate, from run.sh's files.

For each run folder here: every candidate's mean over held-out seeds
3,000,000-3,000,019 (and `umwelt learn`'s own 5 of them, from its learn.json),
the candidate with the highest 20-episode mean (ties to the later, as
`umwelt learn` chooses), and its return on the report seeds 100-119: from
the run's own evaluations in ../<run>/ (final, model, best) when the
checkpoint has the same bytes, otherwise from steps_<steps>_report_episodes.csv here
(run.sh with REPORT=1 writes it). Writes README.md's table to reselect.md.

    python3 docs/results/selection/held_out_20/reselect.py
"""
import csv
import glob
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.dirname(os.path.dirname(HERE))
SEEDS = os.path.join(RESULTS, "seeds")
RUNS = os.path.join(os.path.dirname(os.path.dirname(RESULTS)), "runs", "seeds")


def returns(path):
    with open(path) as f:
        return [float(r["return"]) for r in csv.DictReader(f)]


def mean(xs):
    return sum(xs) / len(xs)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def report_return(name, steps, digest):
    """The candidate's mean on seeds 100-119, or None if never played there."""
    for ck in ("final", "model", "best"):
        path = os.path.join(RUNS, name, f"{ck}.uwwm")
        episodes = os.path.join(SEEDS, name, f"eval_{ck}_episodes.csv")
        if os.path.isfile(path) and os.path.isfile(episodes) and sha(path) == digest:
            return mean(returns(episodes))
    own = os.path.join(HERE, name, f"steps_{steps}_report_episodes.csv")
    if os.path.isfile(own):
        return mean(returns(own))
    return None


def main():
    lines = [
        "| run | candidate (env steps) | held-out, 5 episodes (`learn`) | held-out, 20 episodes | report seeds 100-119 | shipped by the run (5 episodes) |",
        "|---|---|---|---|---|---|",
    ]
    # Per experiment (a run's name less its `_s<seed>`): the report returns
    # of the candidates chosen on 20 episodes, and of those the runs shipped.
    groups = {}
    for d in sorted(glob.glob(os.path.join(HERE, "*_s*"))):
        name = os.path.basename(d)
        with open(os.path.join(SEEDS, name, "learn.json")) as f:
            selection = json.load(f)["selection"]
        shipped = selection["chosen"]
        # `umwelt learn`'s own 5 episodes (the same seeds, f32 weights).
        five = {c["env_steps"]: c["held_out_return"] for c in selection["candidates"]}
        scored = []
        for csv_path in glob.glob(os.path.join(d, "steps_*_held_out_episodes.csv")):
            steps = int(os.path.basename(csv_path).split("_")[1])
            r = returns(csv_path)
            with open(os.path.join(d, f"steps_{steps}.sha256")) as f:
                digest = f.read().strip()
            scored.append((steps, five.get(steps), mean(r), digest))
        scored.sort()
        if not scored:
            continue
        best = max(scored, key=lambda s: (s[2], s[0]))
        chosen_here, shipped_here = groups.setdefault(name.rsplit("_s", 1)[0], ([], []))
        for steps, m5, m20, digest in scored:
            rep = report_return(name, steps, digest)
            mark = " **(20)**" if steps == best[0] else ""
            ship = "yes" if steps == shipped else ""
            rep_s = f"{rep:.1f}" if rep is not None else "-"
            m5_s = f"{m5:.1f}" if m5 is not None else "-"
            lines.append(f"| {name} | {steps}{mark} | {m5_s} | {m20:.1f} | {rep_s} | {ship} |")
            if steps == best[0]:
                chosen_here.append(rep)
            if steps == shipped:
                shipped_here.append(rep)
    lines.append("")
    for experiment, (chosen, ship) in sorted(groups.items()):
        if chosen and all(r is not None for r in chosen + ship):
            lines.append(
                f"- {experiment}, {len(chosen)} runs, mean on seeds 100-119: chosen on 20 "
                f"held-out episodes **{mean(chosen):.1f}**, shipped (chosen on 5) **{mean(ship):.1f}**."
            )
    text = "\n".join(lines) + "\n"
    with open(os.path.join(HERE, "reselect.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
