"""Medians over the rounds of run.sh's before_*.json and after_*.json, as a
Markdown table (summary.md). Usage: python3 summarize.py (in this folder)."""
import glob
import json
import statistics

rows = {}
for side in ("before", "after"):
    for path in sorted(glob.glob(f"{side}_*.json")):
        for m in json.load(open(path))["models"]:
            key = (m["robot"], side, m.get("train_threads", 1))
            update = next(p for p in m["phases"] if p["phase"] == "update")
            rows.setdefault(key, []).append(
                (m["updates_per_s"], update["ms_p50"], update["gflops"],
                 update["of_peak_1_thread"], update["of_peak_all"], m["sgemm_1_thread"], m["sgemm_all"])
            )

base = {k[0]: statistics.median(x[0] for x in v) for k, v in rows.items() if k[1] == "before"}
out = ["| model | build | training threads | updates/s | x before | ms per update | GFLOP/s | of 1-thread sgemm | of 2-thread sgemm | sgemm 1 / 2 threads | rounds |",
       "|---|---|---|---|---|---|---|---|---|---|---|"]
for (robot, side, threads), v in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] != "before", kv[0][2])):
    med = [statistics.median(x[i] for x in v) for i in range(7)]
    out.append(f"| {robot} | {side} | {threads} | {med[0]:.1f} | {med[0] / base[robot]:.2f} | {med[1]:.2f} | {med[2]:.1f} | "
               f"{100 * med[3]:.1f}% | {100 * med[4]:.1f}% | {med[5]:.0f} / {med[6]:.0f} | {len(v)} |")
open("summary.md", "w").write("\n".join(out) + "\n")
print("\n".join(out))
