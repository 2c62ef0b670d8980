#!/usr/bin/env python3
"""stay.md: does a reacher model miss the target, or reach it and not stay?
For every reacher run's report episodes (seeds 100-119 of what the run
ships), the episodes whose finger touched the target at some step (a
reward above 0), those that end on it (success: within its radius at the
end) and the mean return; pixel runs (one ray a pixel; the supersampled
camera's apart) beside state runs.

    python3 docs/results/pixels/misses/stay.py
"""
import csv
import glob
import os

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.dirname(os.path.dirname(HERE))


# The supersampled camera's runs (4 x 4 rays a pixel), kept apart from the
# pixel runs with one ray a pixel.
SUPERSAMPLED = "reacher_easy_pixels_ar4_aa_s"


def runs(pattern, shipped=None, keep=lambda name: True):
    """(name, episodes.csv) of the seed runs matching `pattern` whose name
    `keep` accepts, and the shipped model's evaluation `shipped`."""
    found = [(os.path.basename(os.path.dirname(p)), p)
             for p in sorted(glob.glob(os.path.join(RESULTS, "seeds", pattern)))]
    found = [(n, p) for n, p in found if keep(n)]
    if shipped:
        found.append((shipped + " (shipped)", os.path.join(RESULTS, shipped, "eval", "episodes.csv")))
    return found


def row(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    touched = sum(float(r["max_reward"]) > 0 for r in rows)
    ended = sum(r["success"] == "true" for r in rows)
    mean = sum(float(r["return"]) for r in rows) / len(rows)
    return len(rows), touched, ended, mean


def main():
    lines = [
        "# Reacher: reaching the target against staying on it",
        "",
        "Written by `stay.py` from each run's report episodes (seeds",
        "100-119, what the run ships): *touched*, episodes whose finger was",
        "on the target at some step (a reward above 0); *ended on it*, those",
        "within its radius at the end (success); *left*, touched but not",
        "ended on it.",
        "",
        "| run | observations | episodes | touched | ended on it | left | mean return |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    totals = {}
    pixels = "reacher_easy_pixels*_s*/eval_final_episodes.csv"
    for obs, found in [
        ("pixels", runs(pixels, "reacher_easy_pixels", lambda n: not n.startswith(SUPERSAMPLED))),
        ("pixels, supersampled", runs(pixels, keep=lambda n: n.startswith(SUPERSAMPLED))),
        ("state", runs("reacher_easy_s*/eval_final_episodes.csv", "reacher_easy")),
    ]:
        for name, path in found:
            n, touched, ended, mean = row(path)
            lines.append(f"| {name} | {obs} | {n} | {touched} | {ended} | {touched - ended} | {mean:.1f} |")
            t = totals.setdefault(obs, [0, 0, 0, 0])
            for i, v in enumerate((1, n, touched, ended)):
                t[i] += v
    lines += ["", "| observations | runs | episodes | touched | ended on it | left of those touched |",
              "|---|---:|---:|---:|---:|---:|"]
    for obs, (k, n, touched, ended) in totals.items():
        lines.append(f"| {obs} | {k} | {n} | {100 * touched / n:.0f}% | {100 * ended / n:.0f}% | "
                     f"{100 * (touched - ended) / touched:.0f}% |")
    with open(os.path.join(HERE, "stay.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines[-2 - len(totals):]))


if __name__ == "__main__":
    main()
