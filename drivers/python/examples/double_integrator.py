#!/usr/bin/env python3
"""A robot umwelt does not simulate, served over zenoh: a point mass on a
rail (a double integrator) pushed by a force-limited motor toward a goal
drawn at random in each seeded episode.

Its frames carry the vector to the goal (channel ``to_goal``) and no
reward: the task's reward is defined in ``double_integrator.toml`` from
that channel, so umwelt computes it. Learn it with

    python3 drivers/python/examples/double_integrator.py --lockstep &
    umwelt learn --remote --robot drivers/python/examples/double_integrator.toml \
        --task reach --steps 4000 --action-repeat 2 --out runs/di

(docs/results/remote/double_integrator/run.sh: smaller model and planner
flags that learn it in about 40 s on 2 CPUs, and its evaluation.)
"""

import argparse
import signal
import sys
import threading

import numpy as np

from umwelt_driver import DEFAULT_ENDPOINT, CommandMode, Driver, DriverError
from umwelt_driver.transport import TransportError

DT = 0.05  # s per control step (20 Hz), one semi-implicit Euler step
MASS = 1.0  # kg
MAX_FORCE = 1.0  # N: the motor's limit (the description's effort_limit)
GOAL_DISTANCE = (0.5, 1.0)  # m: the goal starts this far away, either side


class PointMass:
    """Position and velocity on the rail, the goal, and the last force."""

    def __init__(self):
        self.x, self.v, self.force, self.goal = 0.0, 0.0, 0.0, 0.0

    def observe(self):
        return [self.x], [self.v], [self.force], {"to_goal": self.goal - self.x}

    def reset(self, seed: int):
        """At rest at 0, a goal on a random side at a random distance
        (seeded: the same seed, the same episode)."""
        rng = np.random.default_rng(seed)
        side = rng.choice([-1.0, 1.0])
        self.goal = float(side * rng.uniform(*GOAL_DISTANCE))
        self.x, self.v, self.force = 0.0, 0.0, 0.0
        return self.observe()

    def step(self, action: np.ndarray):
        """One control step: the force saturates at the motor's limit."""
        self.force = float(np.clip(action[0], -MAX_FORCE, MAX_FORCE))
        self.v += DT * self.force / MASS  # semi-implicit: velocity first,
        self.x += DT * self.v  # then position with the new velocity
        return self.observe()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--robot", default="double_integrator", help="name (key umwelt/<robot>/...)")
    p.add_argument("--endpoint", default=DEFAULT_ENDPOINT, help="zenoh meeting endpoint")
    p.add_argument("--lockstep", action="store_true", help="step only on answers (simulators)")
    p.add_argument("--seed", type=int, default=0, help="seed of episode 0; episode i uses seed + i")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    args = p.parse_args()

    robot = PointMass()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with Driver(
            args.robot,
            ["slider"],
            CommandMode.TORQUE,  # a force, on a prismatic joint
            safe_action=[0.0],
            rate_hz=1 / DT,
            lockstep=args.lockstep,
            node="double_integrator",
            endpoint=args.endpoint,
            seed=args.seed,
            # No episode_steps: episodes end when the controller sends a
            # Reset (umwelt learn and eval do after task.episode_steps), so
            # that no episode the driver begins on its own can be mistaken
            # for the one the Reset asked for.
        ) as driver:
            where = f"umwelt/{args.robot}/sensors{' in lockstep' if args.lockstep else ''}"
            print(f"serving {args.robot} on {where}", file=sys.stderr, flush=True)
            summary = driver.run(robot.step, robot.reset, duration=args.duration, stop=stop)
    except (DriverError, TransportError) as e:
        print(f"double_integrator: {e}", file=sys.stderr)  # one line, no traceback
        return 2
    print(
        f"{summary.frames} frames, {summary.commands_applied} commands applied, "
        f"{summary.safe_steps} safe steps",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
