"""summary.md: each candidate's return on 20 held-out episodes (this
folder), on `learn`'s 5 (its learn.json) and on the reporting seeds
100-119 where the seed's folder has it (eval_final/eval_best/eval_model
of ../../seeds/reacher_easy_pixels_ups1.0_s*/), and which candidate each
selection picks. Usage: python3 summarize.py (in this folder)."""
import glob
import json
import os

SEEDS = "../../seeds/reacher_easy_pixels_ups1.0_{}"
out = ["| training seed | candidate (env steps) | held-out, 5 episodes (`learn`) | held-out, 20 episodes | seeds 100-119 |",
       "|---|---:|---:|---:|---:|"]
picks = []
for s in ("s10", "s11"):
    learn = json.load(open(os.path.join(SEEDS.format(s), "learn.json")))
    five = {c["env_steps"]: c["held_out_return"] for c in learn["selection"]["candidates"]}
    # Which checkpoint each reporting-seed evaluation is: final.uwwm is the
    # chosen one, model.uwwm the last (100k), best.uwwm the curve's best
    # (the candidate whose curve return is the run's best).
    test = {}
    for kind in ("final", "model", "best"):
        p = os.path.join(SEEDS.format(s), f"eval_{kind}.json")
        if os.path.exists(p):
            best = [c["env_steps"] for c in learn["candidates"]
                    if c["curve_return"] == learn["best_eval_return"]]
            steps = {"final": learn["selection"]["chosen"], "model": learn["selection"]["env_steps"],
                     "best": best[0] if best else None}[kind]
            if steps is not None:
                test.setdefault(steps, json.load(open(p))["avg_sum_reward"])
    twenty = {}
    for d in sorted(glob.glob(f"{s}_steps_*")):
        steps = int(d.split("_")[-1])
        twenty[steps] = json.load(open(os.path.join(d, "eval.json")))["avg_sum_reward"]
    for steps in sorted(twenty):
        t = test.get(steps)
        out.append(f"| {s[1:]} | {steps} | {five[steps]:.1f} | {twenty[steps]:.1f} | "
                   f"{'' if t is None else f'{t:.1f}'} |")
    picks.append(f"seed {s[1:]}: 5 episodes chose {max(five, key=five.get)}, 20 choose {max(twenty, key=twenty.get)}")
out.append("")
out.append("; ".join(picks) + ".")
open("summary.md", "w").write("\n".join(out) + "\n")
print("\n".join(out))
