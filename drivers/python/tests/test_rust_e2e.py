"""End to end against the real Rust binary (``UMWELT_BIN``), over zenoh on
loopback: Python decodes what Rust sends and Rust decodes what Python sends.

- ``umwelt sim --lockstep`` (Rust driver) answered by a Python client;
- the Python example driver controlled by ``umwelt run --trigger lockstep``;
- the Python example driver inspected and commanded by ``umwelt topic echo``,
  ``umwelt estop`` and ``umwelt reset``.
"""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from umwelt_driver import APPLIED_NONE, Applied, AppliedKind, NodeState, Stepping
from umwelt_driver import keys
from zclient import Client

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "numpy_pendulum.py"
WAIT_S = 60


def spawn(*argv):
    return subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(p, sig=signal.SIGINT):
    """Stops ``p`` (if still running) and returns (stdout, stderr)."""
    if p.poll() is None:
        p.send_signal(sig)
    try:
        return p.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.communicate()


@pytest.fixture
def procs():
    started = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.communicate()


def test_python_answers_the_rust_simulator_in_lockstep(umwelt_bin, endpoint, procs):
    c = Client(endpoint, "pendulum")
    try:
        sim = spawn(
            umwelt_bin,
            "sim",
            "--robot",
            "pendulum",
            "--task",
            "swingup",
            "--lockstep",
            "--seed",
            "3",
            "--zenoh-endpoint",
            endpoint,
            "--json",
        )
        procs.append(sim)
        st = c.wait_for(c.status, lambda s: s.node == "sim", timeout=WAIT_S)
        assert st.stepping == Stepping.LOCKSTEP
        f = c.wait_for(c.frames, timeout=WAIT_S)  # the first, or its re-send
        assert f.robot == "pendulum" and len(f.positions) == 1
        assert f.channel("episode") == 0.0 and f.channel("reward") is not None
        assert f.applied == APPLIED_NONE
        for _ in range(20):
            seq = c.answer(f, [0.8])
            nxt = c.wait_for(c.frames, lambda m: m.seq > f.seq)
            assert nxt.seq == f.seq + 1 and nxt.applied == Applied.command(seq)
            assert nxt.efforts[0] != 0.0 or nxt.velocities[0] != f.velocities[0]
            f = nxt
        # Invalid traffic from Python: the Rust driver counts it by class.
        c.answer(f, [0.8, 0.8])  # one value too many: spec
        c.put(keys.CMD, b"UW\x01\x02" + bytes(30))  # version 1
        tel = c.wait_for(
            c.telemetry, lambda t: dict(t.values).get("dropped", 0) >= 2, timeout=WAIT_S
        )
        v = dict(tel.values)
        assert v["dropped_spec"] == 1 and v["dropped_unsupported_version"] == 1
        # A seeded Reset encoded in Python starts episode 1.
        c.reset(42)
        first = c.wait_for(c.frames, lambda m: m.channel("episode") == 1.0)
        assert first.applied.kind == AppliedKind.RESET, first.applied
        out, _ = stop(sim)
        summary = json.loads(out)
        assert summary["commands_applied"] == 20
        assert dict(map(tuple, summary["dropped"]))["spec"] == 1
        assert not c.errors, c.errors
    finally:
        c.close()


def test_the_rust_controller_drives_the_python_pendulum(
    umwelt_bin, endpoint, procs, repo, tmp_path
):
    config = tmp_path / "pendulum_random.toml"
    config.write_text(
        'robot = "pendulum"\ntask = "swingup"\n'
        f'robot_config = "{repo / "configs" / "robots" / "pendulum.toml"}"\n\n'
        '[controller]\nkind = "random"\n'
    )
    driver = spawn(
        sys.executable,
        str(EXAMPLE),
        "--lockstep",
        "--endpoint",
        endpoint,
        "--episodes",
        "2",
        "--seed",
        "7",
        "--json",
    )
    procs.append(driver)
    run = spawn(
        umwelt_bin,
        "run",
        "--config",
        str(config),
        "--trigger",
        "lockstep",
        "--json",
        "--zenoh-endpoint",
        endpoint,
    )
    procs.append(run)
    try:
        d_out, d_err = driver.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail("the Python driver did not finish its episode in 300 s")
    assert driver.returncode == 0, d_err
    r_out, r_err = stop(run)
    py, rust = json.loads(d_out), json.loads(r_out)
    assert py["episodes"] == 2 and py["commands_applied"] == 2000, py
    assert rust["dropped"] == [], rust["dropped"]  # every Python frame decoded
    assert rust["frames_received"] >= 2001
    # Rust books an episode when the next one's first frame arrives; both
    # sides summed the same rewards, Rust from the frames Python sent.
    assert rust["episodes"][0]["frames"] == 1001
    assert rust["episodes"][0]["return"] == pytest.approx(py["returns"][0], rel=1e-5, abs=1e-4)


def test_rust_tools_read_and_command_the_python_driver(umwelt_bin, endpoint, procs):
    driver = spawn(
        sys.executable, str(EXAMPLE), "--endpoint", endpoint, "--robot", "pend_py", "--json"
    )
    procs.append(driver)
    c = Client(endpoint, "pend_py")

    def umwelt(*args):
        done = subprocess.run(
            [umwelt_bin, *args, "--zenoh-endpoint", endpoint],
            capture_output=True,
            text=True,
            timeout=WAIT_S,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        frame = json.loads(
            umwelt("topic", "echo", "umwelt/pend_py/sensors", "--count", "1", "--json")
        )
        assert frame["kind"] == "sensor_frame" and frame["robot"] == "pend_py"
        assert frame["applied"] == "safe" or frame["applied"] == "none"
        assert [n for n, _ in frame["channels"]] == ["reward", "success", "episode"]
        status = json.loads(
            umwelt("topic", "echo", "umwelt/pend_py/status", "--count", "1", "--json")
        )
        assert status["node"] == "numpy_pendulum" and status["stepping"] == "real_time"
        umwelt("estop", "pend_py", "--reason", "from rust")
        c.wait_for(c.status, lambda s: s.state == NodeState.ESTOPPED, timeout=WAIT_S)
        umwelt("reset", "pend_py", "--seed", "99")
        c.wait_for(c.frames, lambda f: f.channel("episode") == 1.0, timeout=WAIT_S)
        umwelt("estop", "pend_py", "--release")
        c.wait_for(c.status, lambda s: s.state == NodeState.SAFE_HOLD, timeout=WAIT_S)
        assert not c.errors, c.errors
    finally:
        c.close()
    out, err = stop(driver, signal.SIGTERM)
    assert driver.returncode == 0, err
    assert json.loads(out)["dropped"] == []
