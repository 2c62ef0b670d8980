"""Writes DIR/summary.md from the `umwelt train --json` reports of
train_cli.sh: steps/s of each engine and thread count as a multiple of
burn on one thread (measured in the same run), and the final losses, which
the engines should share up to rounding."""

import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "train_cli")
rows = ["| model | engine | threads | steps | steps/s | x burn, 1 thread | final training loss | final held-out loss |",
        "|---|---|---:|---:|---:|---:|---:|---:|"]
for model in ["state", "pixels"]:
    base = None
    for engine, threads in [("burn", 1), ("burn", 2), ("fused", 1), ("fused", 2)]:
        r = json.loads((out / f"{model}_{engine}_{threads}.json").read_text())
        assert (r["engine"], r["threads"]) == (engine, threads), r["out"]
        sps = r["steps_per_second"]
        base = base or sps
        rows.append(
            f"| {model} ({r['parameters']} parameters, batch {r['config']['batch_size']}) "
            f"| {engine} | {threads} | {r['steps_this_run']} | {sps:.1f} | {sps / base:.2f} "
            f"| {r['final_train_losses']['total']:.4f} | {r['final_validation_losses']['total']:.4f} |"
        )
(out / "summary.md").write_text(
    "Written by summarize_train_cli.py from train_cli.sh's reports.\n\n" + "\n".join(rows) + "\n"
)
print((out / "summary.md").read_text())
