"""scratch.sh's rounds as a Markdown table (scratch_summary.md): each
build's update rate and ms per update (medians over the rounds), each
round's after/before ratio of the two runs next to each other, and the
median of those ratios. Usage: python3 summarize_scratch.py (in this
folder)."""
import json
import statistics

runs = [json.loads(line) for line in open("scratch_runs.jsonl")]
by = {}
for r in runs:
    (m,) = r["bench"]["models"]
    ph = {p["phase"]: p for p in m["phases"]}
    by.setdefault(r["build"], {})[r["round"]] = (m["updates_per_s"], ph["update"]["ms_p50"], ph["sample"]["ms_p50"])

rounds = sorted(set(by["before"]) & set(by["after"]))
ratios = [by["after"][k][0] / by["before"][k][0] for k in rounds]
out = ["| build | updates/s (median) | ms per update, p50 (median) | sampling ms (median) | rounds |",
       "|---|---|---|---|---|"]
for b in ("before", "after"):
    v = list(by[b].values())
    out.append(f"| {b} | {statistics.median(x[0] for x in v):.1f} | {statistics.median(x[1] for x in v):.2f} | "
               f"{statistics.median(x[2] for x in v):.2f} | {len(v)} |")
out.append("")
out.append("after / before, updates/s, round by round: " + ", ".join(f"{x:.3f}" for x in ratios)
           + f"; median **{statistics.median(ratios):.3f}**")
open("scratch_summary.md", "w").write("\n".join(out) + "\n")
print("\n".join(out))
