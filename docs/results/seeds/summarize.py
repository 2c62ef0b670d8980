#!/usr/bin/env python3
"""Summarise the recipes' training seeds: for every run, what it ships
(final.uwwm, picked on held-out episodes), its last checkpoint (model.uwwm)
and its curve's best (best.uwwm) on seeds 100-119, then the mean and spread
over a task's seeds. The recipe's own seed is the run in
../training_speed/<task>_learn (same learn command, two training threads;
its best.uwwm was not evaluated), for the pixel recipes the shipped run
(../<task>/learn, its final.uwwm evaluated in ../<task>/eval). Runs of
a recipe with other updates per environment step (`UPDATES=1.0 learn.sh`,
folders <task>_ups<u>_s<seed>, and the experiments in EXTRA) are grouped
apart, as are the runs of an experiment's own recipe (reacher_easy_pixels_ar4,
reacher_easy_pixels_ar4_zoom, reacher_easy_pixels_ar4_aa,
reacher_easy_pixels_ar4_g98, reacher_easy_pixels_ar4_sel20,
cartpole_swingup_pixels_ar8): each (task, updates per step) has its own mean. Writes summary.md
and summary.json here.

Run from the repository root: python3 docs/results/seeds/summarize.py
"""

import csv
import json
import os
import statistics as st
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SPEED = os.path.join(HERE, "..", "training_speed")
RESULTS = os.path.join(HERE, "..")
TASKS = {
    # task: (recipe seed, its learn.json, its final.uwwm's episodes.csv
    # when not beside learn.json as eval_final_episodes.csv)
    "cartpole_swingup": (0, os.path.join(SPEED, "cartpole_learn", "learn.json"), None),
    "pendulum_swingup": (2, os.path.join(SPEED, "pendulum_learn", "learn.json"), None),
    "reacher_easy": (3, os.path.join(SPEED, "reacher_easy_learn", "learn.json"), None),
    # The pixel recipes' own runs are the shipped models' (their final.uwwm
    # evaluated in ../<task>/eval). The cart-pole's recipe holds actions 8
    # steps since 2026-12-05: its runs are cartpole_swingup_pixels_ar8's
    # (seed 0 is the shipped model's run); these rows are the recipe before
    # (action repeat 4; its seed 0 at 1.0 is ../pixels/more_updates/).
    "cartpole_swingup_pixels": (None, None, None),
    "reacher_easy_pixels": (
        0,
        os.path.join(RESULTS, "reacher_easy_pixels", "learn", "learn.json"),
        os.path.join(RESULTS, "reacher_easy_pixels", "eval", "episodes.csv"),
    ),
    # Every run (seed 0 included) is in this folder: an experiment's
    # (reacher_easy_pixels_ar4), or the experiment that became the
    # cart-pole's recipe (cartpole_swingup_pixels_ar8).
    "reacher_easy_pixels_ar4": (None, None, None),
    "cartpole_swingup_pixels_ar8": (None, None, None),
    "reacher_easy_pixels_ar4_zoom": (None, None, None),
    "reacher_easy_pixels_ar4_aa": (None, None, None),
    "reacher_easy_pixels_ar4_g98": (None, None, None),
    "reacher_easy_pixels_ar4_sel20": (None, None, None),
}
# Runs kept outside this folder that are a task's runs too (their
# final.uwwm evaluated beside learn.json as eval_final_episodes.csv).
EXTRA = {
    "cartpole_swingup_pixels": [os.path.join(RESULTS, "pixels", "more_updates", "learn.json")],
}
CHECKPOINTS = ("final", "model", "best")


def mean_return(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if len(rows) != 20 or [int(r["seed"]) for r in rows] != list(range(100, 120)):
        sys.exit(f"{path}: expected the 20 episodes of seeds 100-119")
    return st.mean(float(r["return"]) for r in rows)


def run_of(learn, seed, where, final_csv=None):
    """One run's figures (its learn.json, the evaluations beside it, or
    final.uwwm's in `final_csv`), or None if it has not finished."""
    folder = os.path.dirname(learn)
    final_csv = final_csv or os.path.join(folder, "eval_final_episodes.csv")
    if not os.path.exists(learn) or not os.path.exists(final_csv):
        return None
    with open(learn) as f:
        lj = json.load(f)
    out = {
        "seed": seed,
        "updates_per_step": lj["options"]["updates_per_step"],
        "train_threads": lj["options"].get("train_threads"),
        "folder": os.path.relpath(folder, HERE),
        "where": where,
        "wall_s": lj["wall_s"],
        "curve_best": max(p["eval_return"] for p in lj["curve"]),
        "curve_last": lj["curve"][-1]["eval_return"],
        "chosen_steps": lj["selection"]["chosen"],
    }
    for ck in CHECKPOINTS:
        csv_path = os.path.join(folder, f"eval_{ck}_episodes.csv")
        if ck == "final":
            csv_path = final_csv
        same = os.path.join(folder, f"eval_{ck}.txt")
        if os.path.exists(csv_path):
            out[ck] = mean_return(csv_path)
        elif os.path.exists(same):
            # "same bytes as X.uwwm": that checkpoint's episodes.
            other = open(same).read().split()[3].removesuffix(".uwwm")
            out[ck] = out[other]
        elif ck == "model" and lj["selection"]["chosen"] == lj["selection"]["env_steps"]:
            # Not evaluated on its own, but what the selection chose: the
            # last checkpoint is final.uwwm.
            out[ck] = out["final"]
        else:
            out[ck] = None
    return out


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {
        "n": len(values),
        "mean": st.mean(values),
        "std": st.stdev(values) if len(values) > 1 else None,
        "min": min(values),
        "max": max(values),
    }


def fmt(v):
    return "-" if v is None else f"{v:.1f}"


def main():
    summary = {}
    lines = [
        "# Training seeds: what each run ships, its last checkpoint, its best",
        "",
        "Written by `summarize.py` from the runs' files. Returns: mean over",
        "seeds 100-119 (`umwelt eval --full-budget`, the shipped planner",
        "config). `final` is what the run ships (held-out selection),",
        "`last` its last checkpoint (`model.uwwm`), `best` its curve's best",
        "3-episode evaluation (`best.uwwm`).",
        "",
        "| task | updates per step | training seed | final | last | best | curve peak (3 episodes) | chosen at | wall time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for task, (recipe_seed, recipe_learn, recipe_final) in TASKS.items():
        runs = []
        r = recipe_learn and run_of(recipe_learn, recipe_seed, "recipe seed", recipe_final)
        if r:
            runs.append(r)
        found = []
        for name in sorted(os.listdir(HERE)):
            rest = name.removeprefix(task + "_")
            if rest == name or not (rest.startswith("s") or rest.startswith("ups")):
                continue
            seed = int(name.rsplit("_s", 1)[1])
            found.append((os.path.join(HERE, name, "learn.json"), seed, "extra seed"))
        for learn in EXTRA.get(task, []):
            if os.path.exists(learn):
                with open(learn) as f:
                    seed = json.load(f)["options"]["seed"]
                found.append((learn, seed, "experiment"))
        for learn, seed, where in found:
            r = run_of(learn, seed, where)
            if r:
                runs.append(r)
        # One run per (updates per step, seed, wall time): the shipped run
        # may be an experiment's files copied.
        seen, unique = set(), []
        for r in runs:
            key = (r["updates_per_step"], r["seed"], r["wall_s"])
            if key not in seen:
                seen.add(key)
                unique.append(r)
        runs = sorted(unique, key=lambda r: (r["updates_per_step"], r["seed"]))
        for r in runs:
            lines.append(
                f"| {task} | {r['updates_per_step']} | {r['seed']} | {fmt(r['final'])} | "
                f"{fmt(r['model'])} | {fmt(r['best'])} | {r['curve_best']:.1f} | "
                f"{r['chosen_steps']} | {r['wall_s'] / 60:.1f} min |"
            )
        for ups in sorted({r["updates_per_step"] for r in runs}):
            group = [r for r in runs if r["updates_per_step"] == ups]
            agg = {ck: spread([r[ck] for r in group]) for ck in CHECKPOINTS}
            gains = [
                r["final"] - r["model"] for r in group if None not in (r["final"], r["model"])
            ]
            agg["final_minus_last"] = spread(gains)
            summary[f"{task}@{ups}"] = {
                "task": task,
                "updates_per_step": ups,
                "runs": group,
                "over_seeds": agg,
            }
    lines += [
        "",
        "Over each task's training seeds (mean ± sample standard deviation, min-max):",
        "",
        "| task | updates per step | seeds | final | last | final - last, per seed |",
        "|---|---|---|---|---|---|",
    ]

    def cell(a):
        if a is None:
            return "-"
        if a["std"] is None:
            return f"{a['mean']:.1f}"
        return f"**{a['mean']:.1f}** ± {a['std']:.1f} ({a['min']:.1f}-{a['max']:.1f})"

    for t in summary.values():
        agg = t["over_seeds"]
        n = agg["final"]["n"] if agg["final"] else 0
        lines.append(
            f"| {t['task']} | {t['updates_per_step']} | {n} | {cell(agg['final'])} | "
            f"{cell(agg['model'])} | "
            f"{cell(agg['final_minus_last'])} |"
        )
    with open(os.path.join(HERE, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(HERE, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
