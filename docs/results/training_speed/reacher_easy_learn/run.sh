#!/usr/bin/env bash
# The reacher-easy recipe with two training threads, alone on the machine,
# then its final.uwwm and model.uwwm on seeds 100-119; from the repository root.
set -euo pipefail
UMWELT=${UMWELT:-target/release/umwelt}
OUT=docs/results/training_speed/reacher_easy_learn
RUN=runs/training_speed/reacher_easy_t2
if [ "${EVAL_ONLY:-0}" != 1 ]; then
rm -rf "$RUN"
uptime > $OUT/load_start.txt
"$UMWELT" learn --recipe configs/learn/reacher_easy.toml --train-threads 2 --out "$RUN" \
    > $OUT/learn_stdout.txt 2> $OUT/learn_stderr.txt
uptime > $OUT/load_end.txt
cp "$RUN"/learn.json "$RUN"/curve.csv "$RUN"/curve.svg $OUT/
fi
for ck in final model; do
    # The shipped run config with this run's checkpoint (paths are relative
    # to the config's folder, so it is written there for the moment).
    sed "s|^checkpoint = .*|checkpoint = \"../$RUN/$ck.uwwm\"|" configs/mpc_reacher_easy.toml > "configs/.eval_$ck.toml"
    "$UMWELT" eval --config "configs/.eval_$ck.toml" --episodes 20 --seed 100 --full-budget \
        --out "$RUN/eval_$ck" > $OUT/eval_$ck.log 2>&1
    rm "configs/.eval_$ck.toml"
    cp "$RUN/eval_$ck/episodes.csv" $OUT/eval_${ck}_episodes.csv
done
