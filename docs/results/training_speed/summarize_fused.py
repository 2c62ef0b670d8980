"""Medians over the rounds of fused.sh's fused_*.json, as a Markdown table
(fused_summary.md): each engine and thread count's update rate, its ratio
to burn's 2-thread step measured in the same round, and the share of the
same round's sgemm peak. Usage: python3 summarize_fused.py [PREFIX] (in
this folder; PREFIX defaults to `fused`: reads PREFIX_<round>.json, writes
PREFIX_summary.md)."""
import glob
import json
import statistics
import sys

prefix = sys.argv[1] if len(sys.argv) > 1 else "fused"

rows = {}
for path in sorted(glob.glob(f"{prefix}_[0-9]*.json")):
    models = json.load(open(path))["models"]
    base = {m["robot"]: m["updates_per_s"] for m in models
            if m["engine"] == "burn" and m["train_threads"] == 2}
    for m in models:
        key = (m["robot"], m["engine"], m["train_threads"])
        ph = {p["phase"]: p for p in m["phases"]}
        grad = ph.get("gradient") or ph["backward"]
        rows.setdefault(key, []).append((
            m["updates_per_s"], m["updates_per_s"] / base[m["robot"]], ph["update"]["ms_p50"],
            ph["update"]["gflops"], ph["update"]["of_peak_all"], grad["of_peak_all"] if "gradient" in ph else float("nan"),
            ph["optimizer"]["ms_p50"], m["sgemm_all"]))

out = ["| model | engine | training threads | updates/s | x burn, 2 threads | ms per update | GFLOP/s | update, of 2-thread sgemm | gradient, of 2-thread sgemm | Adam ms | 2-thread sgemm GFLOP/s | rounds |",
       "|---|---|---|---|---|---|---|---|---|---|---|---|"]
for (robot, engine, threads), v in sorted(rows.items()):
    med = [statistics.median(x[i] for x in v) for i in range(8)]
    grad = "" if med[5] != med[5] else f"{100 * med[5]:.1f}%"
    out.append(f"| {robot} | {engine} | {threads} | {med[0]:.1f} | {med[1]:.2f} | {med[2]:.2f} | {med[3]:.1f} | "
               f"{100 * med[4]:.1f}% | {grad} | {med[6]:.3f} | {med[7]:.0f} | {len(v)} |")
open(f"{prefix}_summary.md", "w").write("\n".join(out) + "\n")
print("\n".join(out))
