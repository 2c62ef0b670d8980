#!/usr/bin/env bash
# The ROS 2 round trip beside the native protocol, per seed: one lockstep
# episode of the cart-pole swing-up with the shipped MPC model, over umwelt's
# protocol (configs/mpc_cartpole_swingup.toml) and over ROS 2 through
# drivers/python/examples/ros2_robot.py (configs/ros2/mpc_cartpole_swingup.toml).
# Writes <seed>/{native,ros2}/{sim,run}.json and <seed>/ros2/robot.json here.
# Usage (repository root, after a release build, python venv with
# umwelt_driver, rosbags, eclipse-zenoh): docs/results/ros2/run.sh 0 1 2
set -euo pipefail
U=${UMWELT:-target/release/umwelt}
OUT=docs/results/ros2
P=${PORT_BASE:-27750}
for seed in "$@"; do
  for mode in native ros2; do
    d=$OUT/seed$seed/$mode; mkdir -p "$d"
    A=tcp/127.0.0.1:$P; B=tcp/127.0.0.1:$((P+1)); P=$((P+2))
    "$U" sim --robot cartpole --task swingup --robot-config configs/robots/cartpole.toml \
      --lockstep --episodes 1 --seed "$seed" --json --zenoh-endpoint "$A" > "$d/sim.json" 2>/dev/null &
    sim=$!
    if [ $mode = native ]; then
      cfg=configs/mpc_cartpole_swingup.toml; ep=$A
    else
      python3 drivers/python/examples/ros2_robot.py --native-endpoint "$A" --ros-endpoint "$B" \
        --idle 1 --report "$d/robot.json" &
      robot=$!
      cfg=configs/ros2/mpc_cartpole_swingup.toml; ep=$B
    fi
    "$U" run --config $cfg --trigger lockstep --json --zenoh-endpoint "$ep" > "$d/run.json" 2>/dev/null &
    run=$!
    wait $sim; kill -INT $run; wait $run
    if [ $mode = ros2 ]; then wait $robot; fi
    echo "seed $seed $mode: return $(python3 -c "import json;print(json.load(open('$d/sim.json'))['returns'][0])")"
  done
done
