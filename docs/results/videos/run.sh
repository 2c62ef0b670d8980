#!/usr/bin/env bash
# Makes the example videos and the cost figures in this folder:
# `umwelt eval --video` on the shipped cart-pole and reacher models.
# Run from the repository root after `cargo build --release`.
set -euo pipefail
UMWELT="${UMWELT:-target/release/umwelt}"
HERE=docs/results/videos
OUT=runs/videos
rm -rf "$OUT"
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //' > "$HERE/cpu.txt"
grep -o -w -E 'avx512f|avx512_bf16|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ' >> "$HERE/cpu.txt"
echo >> "$HERE/cpu.txt"
nproc >> "$HERE/cpu.txt"

"$UMWELT" eval --config configs/mpc_cartpole_swingup.toml --episodes 3 --seed 100 \
    --full-budget --video 3 --out "$OUT/cartpole" | tee "$HERE/cartpole_eval.log"
"$UMWELT" eval --config configs/mpc_reacher_easy.toml --episodes 3 --seed 100 \
    --full-budget --video 3 --out "$OUT/reacher" | tee "$HERE/reacher_eval.log"

cp "$OUT/cartpole/eval.json" "$HERE/cartpole_eval.json"
cp "$OUT/reacher/eval.json" "$HERE/reacher_eval.json"
cp "$OUT/cartpole/traces.svg" "$HERE/cartpole_traces.svg"
# One video of each with its poster: the cart-pole's best episode, the
# reacher's worst (its smallest file; the folder stays small).
video() { python3 -c "import json,sys; print(next(v['path'] for v in json.load(open(sys.argv[1]))['videos'] if v['label'] == sys.argv[2]))" "$1" "$2"; }
cp "$OUT/cartpole/$(video "$OUT/cartpole/eval.json" best)" "$HERE/cartpole_swingup.mp4"
cp "$OUT/cartpole/$(video "$OUT/cartpole/eval.json" best | sed 's/mp4$/png/')" "$HERE/cartpole_swingup.png"
cp "$OUT/reacher/$(video "$OUT/reacher/eval.json" worst)" "$HERE/reacher_easy.mp4"
cp "$OUT/reacher/$(video "$OUT/reacher/eval.json" worst | sed 's/mp4$/png/')" "$HERE/reacher_easy.png"

# Render and encode speed, one thread, from the files eval wrote.
python3 - "$HERE" <<'PY' | tee "$HERE/cost.txt"
import json, sys
here = sys.argv[1]
for task in ("cartpole", "reacher"):
    for v in json.load(open(f"{here}/{task}_eval.json"))["videos"]:
        print(f"{task} {v['label']:>6} seed {v['seed']}: {v['frames']} frames {v['width']}x{v['height']} "
              f"at {v['fps']:.0f}/s, {v['bytes']/1024:.0f} KB; render {v['frames']/v['render_s']:.0f} frames/s, "
              f"encode {v['frames']/v['encode_s']:.0f} frames/s (one thread)")
PY

# The example files as an independent decoder (PyAV, FFmpeg inside) sees them.
python3 - "$HERE" <<'PY' | tee "$HERE/probe.txt"
import av, json, sys
here = sys.argv[1]
for p in ["cartpole_swingup.mp4", "reacher_easy.mp4"]:
    with av.open(f"{here}/{p}") as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(s))
        print(json.dumps({"file": p, "format": c.format.name, "codec": s.codec_context.name,
                          "profile": s.codec_context.profile, "pix_fmt": s.codec_context.pix_fmt,
                          "width": s.codec_context.width, "height": s.codec_context.height,
                          "fps": float(s.average_rate), "frames_decoded": n, "av": av.__version__}))
PY
