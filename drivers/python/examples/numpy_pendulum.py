#!/usr/bin/env python3
"""A robot umwelt does not simulate, served over zenoh: a torque-limited
pendulum integrated in numpy, with a dm_control-like swing-up task.

Copy this file to bring your own robot: replace ``Pendulum`` by your
hardware (or simulator) and keep ``main``. The robot is compatible with
umwelt's built-in ``pendulum`` (one joint ``hinge``, 0 = upright, torque),
so umwelt's pendulum controllers can drive it:

    python3 examples/numpy_pendulum.py --lockstep &
    umwelt run --config configs/oracle_pendulum_swingup.toml --trigger lockstep
"""

import argparse
import json
import signal
import sys
import threading

import numpy as np

from umwelt_driver import DEFAULT_ENDPOINT, CommandMode, Driver, DriverError
from umwelt_driver.transport import TransportError

DT = 0.02  # s per control step (50 Hz), one semi-implicit Euler step
GRAVITY, MASS, LENGTH = 9.81, 1.0, 0.5  # a 1 kg ball on a 0.5 m massless rod
INERTIA = MASS * LENGTH**2
DAMPING = 0.1  # N m s/rad
MAX_TORQUE = 1.0  # N m: too weak to lift the ball directly (~4.9 N m): it must pump
UPRIGHT_COS = np.cos(np.deg2rad(8.0))  # dm_control: reward 1 within 8 deg
EPISODE_STEPS = 1000  # 20 s, as dm_control


def swingup_reward(cos_angle: float) -> float:
    """1 within 8 deg of upright, else a Gaussian tolerance of the distance
    in cos (0.1 at 1.0 below the bound, as dm_control's ``tolerance``)."""
    if cos_angle >= UPRIGHT_COS:
        return 1.0
    x = (UPRIGHT_COS - cos_angle) / 1.0
    return float(np.exp(-0.5 * (x * np.sqrt(-2.0 * np.log(0.1))) ** 2))


class Pendulum:
    """State (angle from upright, angular velocity) and the last torque."""

    def __init__(self):
        self.angle, self.velocity, self.torque = 0.0, 0.0, 0.0

    def observe(self, reward: float):
        wrapped = (self.angle + np.pi) % (2 * np.pi) - np.pi
        channels = {"reward": reward, "success": float(np.cos(wrapped) >= UPRIGHT_COS)}
        return [wrapped], [self.velocity], [self.torque], channels

    def reset(self, seed: int):
        """A random angle, at rest (seeded: the same seed, the same episode)."""
        rng = np.random.default_rng(seed)
        self.angle, self.velocity, self.torque = rng.uniform(-np.pi, np.pi), 0.0, 0.0
        return self.observe(0.0)

    def step(self, action: np.ndarray):
        """One control step: the torque saturates at the motor's limit."""
        self.torque = float(np.clip(action[0], -MAX_TORQUE, MAX_TORQUE))
        accel = (
            MASS * GRAVITY * LENGTH * np.sin(self.angle) + self.torque - DAMPING * self.velocity
        ) / INERTIA
        self.velocity += DT * accel  # semi-implicit: velocity first,
        self.angle += DT * self.velocity  # then position with the new velocity
        return self.observe(swingup_reward(np.cos(self.angle)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--robot", default="pendulum", help="robot name (key umwelt/<robot>/...)")
    p.add_argument("--endpoint", default=DEFAULT_ENDPOINT, help="zenoh meeting endpoint")
    p.add_argument("--lockstep", action="store_true", help="step only on answers (simulators)")
    p.add_argument("--seed", type=int, default=0, help="seed of episode 0; episode i uses seed + i")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--episodes", type=int, help="stop after this many episodes")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    args = p.parse_args()

    robot = Pendulum()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with Driver(
            args.robot,
            ["hinge"],
            CommandMode.TORQUE,
            safe_action=[0.0],
            rate_hz=1 / DT,
            lockstep=args.lockstep,
            node="numpy_pendulum",
            endpoint=args.endpoint,
            seed=args.seed,
            episode_steps=EPISODE_STEPS,
        ) as driver:
            where = f"umwelt/{args.robot}/sensors{' in lockstep' if args.lockstep else ''}"
            print(f"serving {args.robot} on {where}", file=sys.stderr, flush=True)
            summary = driver.run(
                robot.step, robot.reset, duration=args.duration, episodes=args.episodes, stop=stop
            )
    except (DriverError, TransportError) as e:
        print(f"numpy_pendulum: {e}", file=sys.stderr)  # one line, no traceback
        return 2
    if args.json:
        print(json.dumps(summary.__dict__))
    else:
        print(
            f"{summary.frames} frames, {summary.commands_applied} commands applied, "
            f"{summary.safe_steps} safe steps, returns {summary.returns}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
