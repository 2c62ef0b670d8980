#!/usr/bin/env bash
# One shipped recipe learned with another training seed (two training
# threads), then what the run ships (final.uwwm), its last checkpoint
# (model.uwwm) and its curve's best (best.uwwm) on seeds 100-119; from the
# repository root:
#   docs/results/seeds/learn.sh cartpole_swingup 10
# TASK names configs/learn/TASK.toml and configs/mpc_TASK.toml; the files go
# to docs/results/seeds/TASK_sSEED, the run itself to $RUNS (default runs/seeds).
# ENGINE: the training engine (default burn, the state recipes' runs; the
# pixel recipes train with fused). THREADS: training threads (default 2;
# two runs side by side on two cores take 1 each). UPDATES: updates per
# environment step instead of the recipe's (an experiment: the folders are
# then named TASK_upsUPDATES_sSEED). RECIPE and RUN_CONFIG: an experiment's
# own recipe and run config instead of configs/learn/TASK.toml and
# configs/mpc_TASK.toml (docs/results/seeds/experiments/).
# A checkpoint with the same bytes as one evaluated before is not evaluated
# again (its episodes are the same): eval_<ck>.txt names the one it equals.
set -euo pipefail
TASK=${1:?recipe name, e.g. cartpole_swingup}
SEED=${2:?training seed, e.g. 10}
UMWELT=${UMWELT:-target/release/umwelt}
NAME=${TASK}${UPDATES:+_ups$UPDATES}_s$SEED
OUT=docs/results/seeds/$NAME
RUN=${RUNS:-runs/seeds}/$NAME
RECIPE=${RECIPE:-configs/learn/$TASK.toml}
RUN_CONFIG=${RUN_CONFIG:-configs/mpc_$TASK.toml}
mkdir -p "$OUT"
if [ "${EVAL_ONLY:-0}" != 1 ]; then
    rm -rf "$RUN"
    uptime > "$OUT/load_start.txt"
    "$UMWELT" learn --recipe "$RECIPE" --seed "$SEED" --train-threads "${THREADS:-2}" --train-engine "${ENGINE:-burn}" \
        ${UPDATES:+--updates-per-step "$UPDATES"} --out "$RUN" \
        > "$OUT/learn_stdout.txt" 2> "$OUT/learn_stderr.txt"
    uptime > "$OUT/load_end.txt"
    cp "$RUN"/learn.json "$RUN"/curve.csv "$RUN"/curve.svg "$OUT/"
fi
RUN_ABS=$(cd "$RUN" && pwd)
declare -A SEEN=()
for ck in final model best; do
    sum=$(sha256sum "$RUN/$ck.uwwm" | cut -d' ' -f1)
    if [ -n "${SEEN[$sum]:-}" ]; then
        echo "same bytes as ${SEEN[$sum]}.uwwm" > "$OUT/eval_$ck.txt"
        continue
    fi
    SEEN[$sum]=$ck
    # The shipped run config with this run's checkpoint (absolute path); its
    # other paths are relative to configs/, so it is written there meanwhile.
    CFG=configs/.eval_${NAME}_$ck.toml
    sed "s|^checkpoint = .*|checkpoint = \"$RUN_ABS/$ck.uwwm\"|" "$RUN_CONFIG" > "$CFG"
    "$UMWELT" eval --config "$CFG" --episodes 20 --seed 100 --full-budget \
        --out "$RUN/eval_$ck" > "$OUT/eval_$ck.log" 2>&1
    rm "$CFG"
    cp "$RUN/eval_$ck/episodes.csv" "$OUT/eval_${ck}_episodes.csv"
    cp "$RUN/eval_$ck/eval.json" "$OUT/eval_${ck}.json"
done
