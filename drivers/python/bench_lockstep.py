#!/usr/bin/env python3
"""How many frames a second the Python Driver sustains in lockstep.

The example's numpy pendulum is served by :class:`umwelt_driver.Driver` in
lockstep; a responder in another process answers every frame at once:
``umwelt run --trigger lockstep`` (the Rust controller, ``random``) when
``--umwelt`` names the binary, and a minimal Python responder (decode the
frame, encode a command). Each runs ``--seconds``; the rate counts the steps
between the first and the last answered one. Results go to ``--out`` as JSON
with the command line and the CPU.

    python3 drivers/python/bench_lockstep.py --umwelt target/release/umwelt
"""

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

KIT = Path(__file__).resolve().parent
REPO = KIT.parents[1]
sys.path.insert(0, str(KIT))

from umwelt_driver import (  # noqa: E402
    CommandMode,
    Driver,
    MotorCommand,
    decode_sensor_frame,
    encode,
    now_ns,
    open_session,
)
from umwelt_driver import keys  # noqa: E402


def respond(endpoint: str, robot: str, seconds: float) -> None:
    """The Python responder: answers every frame with a zero torque."""
    import threading

    session = open_session(endpoint)
    cmd = session.declare_publisher(keys.key(robot, keys.CMD), express=True)
    seq = [0]

    def on_frame(sample):
        f = decode_sensor_frame(sample.payload.to_bytes())
        seq[0] += 1
        now = now_ns()
        cmd.put(
            encode(MotorCommand(seq[0], now, f.seq, now + 100_000_000, CommandMode.TORQUE, [0.0]))
        )

    sub = session.declare_subscriber(keys.key(robot, keys.SENSORS), on_frame)
    threading.Event().wait(seconds)
    sub.undeclare()
    session.close()


def load_pendulum():
    spec = importlib.util.spec_from_file_location(
        "numpy_pendulum", KIT / "examples" / "numpy_pendulum.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Pendulum()


def serve(endpoint: str, robot: str, seconds: float, responder: list) -> dict:
    """Serves the pendulum in lockstep against ``responder`` (argv) and
    measures the steps' rate and intervals."""
    pend, stamps = load_pendulum(), []

    def step(action):
        stamps.append(time.perf_counter())
        return pend.step(action)

    with Driver(
        robot,
        ["hinge"],
        CommandMode.TORQUE,
        [0.0],
        50.0,
        lockstep=True,
        node="bench",
        endpoint=endpoint,
        lockstep_timeout=0.5,
    ) as driver:
        p = subprocess.Popen(
            responder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        try:
            summary = driver.run(step, pend.reset, duration=seconds)
        finally:
            p.terminate()
            p.communicate(timeout=30)
    # Steady state: drop the first second (start-up, zenoh links forming).
    t = np.array(stamps)
    t = t[t >= t[0] + 1.0] if len(t) and t[-1] - t[0] > 2.0 else t
    if len(t) < 2:
        raise SystemExit(f"only {len(t)} steps measured: did the responder start? ({responder[0]})")
    gaps = np.diff(t) * 1e6
    return {
        "frames_per_s": round((len(t) - 1) / (t[-1] - t[0]), 1),
        "steps_measured": int(len(t)),
        "seconds_measured": round(float(t[-1] - t[0]), 3),
        "step_interval_us": {
            q: round(float(np.percentile(gaps, v)), 1)
            for q, v in (("p50", 50), ("p99", 99), ("max", 100))
        },
        "dropped": summary.dropped,
    }


def cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        line = next(x for x in out.splitlines() if x.startswith("Model name"))
        return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} logical CPUs)"
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--umwelt", help="the Rust umwelt binary (for the Rust responder)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--port", type=int, default=17590, help="loopback port of the zenoh endpoint")
    p.add_argument(
        "--out", default=str(REPO / "docs" / "results" / "drivers" / "python_lockstep.json")
    )
    p.add_argument("--note", default="", help="a remark stored with the results")
    p.add_argument("--respond", help=argparse.SUPPRESS)  # internal: be the Python responder
    args = p.parse_args()
    endpoint = f"tcp/127.0.0.1:{args.port}"
    if args.respond:
        respond(endpoint, args.respond, args.seconds + 30)
        return 0

    results = {}
    py = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--respond",
        "bench_py",
        "--port",
        str(args.port),
        "--seconds",
        str(args.seconds),
    ]
    results["python_responder"] = serve(endpoint, "bench_py", args.seconds, py)
    if args.umwelt:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "pendulum_random.toml"
            config.write_text(
                'robot = "pendulum"\ntask = "swingup"\n'
                f'robot_config = "{REPO / "configs" / "robots" / "pendulum.toml"}"\n'
                '\n[controller]\nkind = "random"\n'
            )
            rs = [
                args.umwelt,
                "run",
                "--config",
                str(config),
                "--trigger",
                "lockstep",
                "--zenoh-endpoint",
                endpoint,
            ]
            results["rust_responder"] = serve(endpoint, "pendulum", args.seconds, rs)
    from importlib.metadata import version

    doc = {
        "what": "frames per second the Python umwelt_driver.Driver sustains in lockstep "
        "(numpy pendulum, one joint), each frame answered at once by the responder "
        "in another process, over zenoh on loopback",
        "command": "python3 drivers/python/bench_lockstep.py"
        + (" --umwelt <umwelt binary>" if args.umwelt else "")
        + f" --seconds {args.seconds:g}",
        "cpu": cpu(),
        "python": platform.python_version(),
        "eclipse_zenoh": version("eclipse-zenoh"),
        "numpy": np.__version__,
        "results": results,
    }
    if args.note:
        doc["note"] = args.note
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
