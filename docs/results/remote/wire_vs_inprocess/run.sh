#!/usr/bin/env bash
# The reacher-easy recipe (20,000 env steps) learned three ways on the same
# robot (reacher_dmc.toml): in-process, and through `umwelt sim` as its own
# process over zenoh in real time (50 Hz, frame-triggered); the lockstep
# way is the in-process run to the byte (runtime/tests/remote_episodes.rs).
# Then both final checkpoints are evaluated in-process on seeds 100-119.
# Run from the repository root: docs/results/remote/wire_vs_inprocess/run.sh
set -euo pipefail
HERE=docs/results/remote/wire_vs_inprocess
UMWELT=${UMWELT:-umwelt}
EP=tcp/127.0.0.1:${PORT:-17861}
RECIPE=(--recipe configs/learn/reacher_easy.toml --robot-config $HERE/reacher_dmc.toml --steps 20000)
rm -rf $HERE/output && mkdir -p $HERE/output

# Real time: the simulator paces itself at the control rate; the learner
# answers every frame. Both get CPU first (nice -10) on this shared machine.
nice -n -10 $UMWELT sim --robot reacher --task easy --robot-config $HERE/reacher_dmc.toml \
    --name reacher_rt --zenoh-endpoint $EP > $HERE/output/sim.log 2>&1 &
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
nice -n -10 $UMWELT learn "${RECIPE[@]}" --remote --name reacher_rt --zenoh-endpoint $EP \
    --out $HERE/output/realtime > $HERE/output/realtime.log 2>&1 &
RT=$!
# In-process, at the same time but behind the real-time pair.
nice -n 5 $UMWELT learn "${RECIPE[@]}" --out $HERE/output/inprocess > $HERE/output/inprocess.log 2>&1
wait $RT
kill $SIM

for m in inprocess realtime; do
    $UMWELT eval --config $HERE/mpc_$m.toml --full-budget --episodes 20 --seed 100 \
        --out $HERE/output/eval_$m > $HERE/output/eval_$m.log 2>&1
done
grep -h "remote:" $HERE/output/realtime.log || true
