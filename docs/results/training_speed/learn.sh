#!/usr/bin/env bash
# One shipped recipe with two training threads, alone on the machine, then
# its final.uwwm and model.uwwm on seeds 100-119; from the repository root:
#   docs/results/training_speed/learn.sh cartpole_swingup cartpole_learn
#   docs/results/training_speed/learn.sh pendulum_swingup pendulum_learn
#   docs/results/training_speed/learn.sh reacher_easy reacher_easy_learn
# TASK names configs/learn/TASK.toml and configs/mpc_TASK.toml; the files go
# to docs/results/training_speed/FOLDER. EVAL_ONLY=1 repeats the evaluations.
# ENGINE (burn, the default here: what the folders without `fused` in their
# name ran; or fused) is the training engine:
#   ENGINE=fused docs/results/training_speed/learn.sh cartpole_swingup fused_cartpole_learn
set -euo pipefail
TASK=${1:?recipe name, e.g. cartpole_swingup}
FOLDER=${2:?results folder, e.g. cartpole_learn}
UMWELT=${UMWELT:-target/release/umwelt}
ENGINE=${ENGINE:-burn}
OUT=docs/results/training_speed/$FOLDER
RUN=runs/training_speed/${FOLDER%_learn}_t2
mkdir -p "$OUT"
if [ "${EVAL_ONLY:-0}" != 1 ]; then
    rm -rf "$RUN"
    uptime > "$OUT/load_start.txt"
    "$UMWELT" learn --recipe "configs/learn/$TASK.toml" --train-threads 2 --train-engine "$ENGINE" --out "$RUN" \
        > "$OUT/learn_stdout.txt" 2> "$OUT/learn_stderr.txt"
    uptime > "$OUT/load_end.txt"
    cp "$RUN"/learn.json "$RUN"/curve.csv "$RUN"/curve.svg "$OUT/"
fi
for ck in final model; do
    # The shipped run config with this run's checkpoint (paths are relative
    # to the config's folder, so it is written there for the moment).
    sed "s|^checkpoint = .*|checkpoint = \"../$RUN/$ck.uwwm\"|" "configs/mpc_$TASK.toml" > "configs/.eval_$ck.toml"
    "$UMWELT" eval --config "configs/.eval_$ck.toml" --episodes 20 --seed 100 --full-budget \
        --out "$RUN/eval_$ck" > "$OUT/eval_$ck.log" 2>&1
    rm "configs/.eval_$ck.toml"
    cp "$RUN/eval_$ck/episodes.csv" "$OUT/eval_${ck}_episodes.csv"
done
