#!/usr/bin/env bash
# The reacher-easy recipe learned two ways at once on the same robot
# (reacher_dmc.toml): in-process, and through `umwelt sim` as its own
# process over zenoh in real time (50 Hz, frame-triggered); the lockstep
# way is the in-process run to the byte (runtime/tests/remote_episodes.rs).
# Then both runs' checkpoints are evaluated in-process on seeds 100-119.
# Run from the repository root:
#   docs/results/remote/wire_vs_inprocess/run.sh            # 20,000 steps -> output/
#   STEPS=100000 OUT=output_100k TRAIN_THREADS=2 \
#       docs/results/remote/wire_vs_inprocess/run.sh        # the whole budget
set -euo pipefail
HERE=docs/results/remote/wire_vs_inprocess
UMWELT=${UMWELT:-umwelt}
EP=tcp/127.0.0.1:${PORT:-17861}
STEPS=${STEPS:-20000}
OUT=${OUT:-output}
RECIPE=(--recipe configs/learn/reacher_easy.toml --robot-config $HERE/reacher_dmc.toml --steps $STEPS)
if [ -n "${TRAIN_THREADS:-}" ]; then RECIPE+=(--train-threads "$TRAIN_THREADS"); fi
rm -rf $HERE/$OUT && mkdir -p $HERE/$OUT
lscpu > $HERE/$OUT/lscpu.txt
uptime > $HERE/$OUT/load_start.txt

# Real time: the simulator paces itself at the control rate; the learner
# answers every frame. Both get CPU first (nice -10) on this shared machine.
nice -n -10 $UMWELT sim --robot reacher --task easy --robot-config $HERE/reacher_dmc.toml \
    --name reacher_rt --zenoh-endpoint $EP > $HERE/$OUT/sim.log 2>&1 &
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
nice -n -10 $UMWELT learn "${RECIPE[@]}" --remote --name reacher_rt --zenoh-endpoint $EP \
    --out $HERE/$OUT/realtime > $HERE/$OUT/realtime.log 2>&1 &
RT=$!
# In-process, at the same time but behind the real-time pair.
nice -n 5 $UMWELT learn "${RECIPE[@]}" --out $HERE/$OUT/inprocess > $HERE/$OUT/inprocess.log 2>&1
wait $RT
kill $SIM
uptime > $HERE/$OUT/load_end.txt

# The 20,000-step runs predate held-out selection and shipped their last
# checkpoint (model.uwwm); the longer ones also evaluate what they ship
# (final.uwwm).
CKS=(model)
if [ -f $HERE/$OUT/realtime/final.uwwm ]; then CKS=(final model); fi
for m in inprocess realtime; do
    for ck in "${CKS[@]}"; do
        name=eval_$m
        if [ "$ck" != model ] || [ "$OUT" != output ]; then name=eval_${m}_$ck; fi
        # The run config with this run's checkpoint; checkpoint paths are
        # relative to the config's folder, so it is written there.
        sed "s|^checkpoint = .*|checkpoint = \"$OUT/$m/$ck.uwwm\"|" $HERE/mpc_$m.toml > $HERE/.eval.toml
        $UMWELT eval --config $HERE/.eval.toml --full-budget --episodes 20 --seed 100 \
            --out $HERE/$OUT/$name > $HERE/$OUT/$name.log 2>&1
        rm $HERE/.eval.toml
    done
done
grep -h "remote:" $HERE/$OUT/realtime.log || true
