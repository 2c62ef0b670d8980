"""The Driver helper over real zenoh on loopback, against a Python client:
lockstep stepping and re-sends, real-time commands and the safe action,
the estop latch, seeded Resets, and invalid traffic dropped and counted."""

import threading

import numpy as np
import pytest

from umwelt_driver import (
    APPLIED_NONE,
    APPLIED_SAFE,
    Applied,
    AppliedKind,
    CommandMode,
    Driver,
    DriverError,
    ImageEncoding,
    NodeState,
    Stepping,
    encode,
    image,
    MotorCommand,
    now_ns,
)
from umwelt_driver import keys
from zclient import Client


class Integrator:
    """A robot whose position sums the actions applied; reset(seed) puts it
    at ``seed``."""

    def __init__(self):
        self.x, self.seeds = 0.0, []

    def reset(self, seed):
        self.seeds.append(seed)
        self.x = float(seed)
        return [self.x], [0.0], [0.0], {"reward": 0.0}

    def step(self, action):
        self.x += float(action[0])
        return [self.x], [float(action[0])], [0.0], {"reward": float(action[0])}


@pytest.fixture
def served(endpoint):
    """Starts a driver (kwargs) in a thread with a client; yields (driver,
    client, robot, summary holder); stops and closes both."""
    started = []

    def start(**kwargs):
        robot = kwargs.pop("robot_object", None) or Integrator()
        client = Client(endpoint, "integ")
        opts = dict(
            robot="integ",
            joints=["x"],
            mode=CommandMode.TORQUE,
            safe_action=[0.0],
            rate_hz=50.0,
            node="integ_driver",
            endpoint=endpoint,
        )
        opts.update(kwargs)
        driver = Driver(**opts)
        stop, out = threading.Event(), {}
        t = threading.Thread(
            target=lambda: out.update(s=driver.run(robot.step, robot.reset, stop=stop))
        )
        t.start()
        started.append((driver, client, stop, t))
        return driver, client, robot, out

    yield start
    for driver, client, stop, t in started:
        stop.set()
        t.join(timeout=10)
        driver.close()
        client.close()


def test_lockstep_steps_on_answers_and_says_what_it_applied(served):
    driver, c, robot, out = served(lockstep=True, lockstep_timeout=0.3)
    st = c.wait_for(c.status)
    assert st.node == "integ_driver" and st.stepping == Stepping.LOCKSTEP
    f = c.wait_for(c.frames)
    assert f.robot == "integ" and f.applied == APPLIED_NONE and f.channel("episode") == 0.0
    x = f.positions[0]
    for i in range(1, 6):
        seq = c.answer(f, [0.5])
        nxt = c.wait_for(c.frames, lambda m: m.seq > f.seq)
        assert nxt.seq == f.seq + 1
        assert nxt.applied == Applied.command(seq)
        assert nxt.positions[0] == pytest.approx(x + 0.5 * i)
        assert nxt.channel("reward") == 0.5
        f = nxt
    # No answer: the same frame again, same seq, newer stamp.
    again = c.wait_for(c.frames)
    assert again.seq == f.seq and again.stamp_ns > f.stamp_ns and again.positions == f.positions
    # An answer to an older frame does not step it.
    c.answer(f.__class__(f.seq - 1, 0, "integ"), [9.0])
    seq = c.answer(again, [-1.0])
    nxt = c.wait_for(c.frames, lambda m: m.seq > f.seq)
    assert nxt.applied == Applied.command(seq) and nxt.positions[0] == pytest.approx(
        f.positions[0] - 1.0
    )
    tel = dict(
        c.wait_for(c.telemetry, lambda t: dict(t.values).get("dropped_unanswered", 0) >= 1).values
    )
    assert tel["resends"] >= 1 and tel["dropped"] >= 1


def test_real_time_holds_safe_without_commands_and_latches_the_estop(served):
    driver, c, robot, out = served()
    c.wait_for(c.status, lambda s: s.state == NodeState.SAFE_HOLD)
    f = c.wait_for(c.frames, lambda m: m.seq > 2)
    assert f.applied == APPLIED_SAFE and f.positions[0] == 0.0

    # Answer every frame: commands apply.
    def drive_until(pred):
        for _ in range(500):
            frame = c.wait_for(c.frames)
            c.answer(frame, [0.25], deadline_ms=200)
            if pred(frame):
                return frame
        raise AssertionError("condition never held")

    running = drive_until(lambda m: m.applied.command_seq is not None)
    assert running.velocities[0] == 0.25
    c.wait_for(c.status, lambda s: s.state == NodeState.RUNNING)
    # Engage: safe action however many commands come; a release on estop is refused.
    c.estop(True, keys.ESTOP)
    engaged = c.wait_for(c.status, lambda s: s.state == NodeState.ESTOPPED)
    c.estop(False, keys.ESTOP)
    # Every frame of a step after the ESTOPPED status (stamped later) is safe.
    held = [drive_until(lambda m: m.stamp_ns > engaged.stamp_ns) for _ in range(10)]
    assert all(h.applied == APPLIED_SAFE and h.velocities[0] == 0.0 for h in held)
    tel = dict(
        c.wait_for(c.telemetry, lambda t: dict(t.values)["dropped_unauthorised"] >= 1).values
    )
    assert tel["dropped_unauthorised"] == 1
    # Release on admin: commands apply again.
    c.estop(False, keys.ADMIN)
    drive_until(lambda m: m.applied.command_seq is not None)
    assert not driver.inbox.estop.engaged


def test_a_reset_starts_a_seeded_episode(served):
    driver, c, robot, out = served(lockstep=True, seed=10)
    f = c.wait_for(c.frames)
    assert f.positions[0] == 10.0
    c.answer(f, [1.0])
    f = c.wait_for(c.frames, lambda m: m.seq == f.seq + 1)
    c.reset(1234)
    first = c.wait_for(c.frames, lambda m: m.applied.kind == AppliedKind.RESET and m.seq > f.seq)
    assert first.positions[0] == 1234.0 and first.channel("episode") == 1.0
    c.wait_for(c.status, lambda s: s.state == NodeState.EPISODE_RESET and "seed 1234" in s.message)
    c.reset(None, topic=keys.ADMIN)  # no seed: the driver's next, seed + episode
    first = c.wait_for(
        c.frames, lambda m: m.applied.kind == AppliedKind.RESET and m.seq > first.seq
    )
    assert first.positions[0] == 12.0 and first.channel("episode") == 2.0
    assert robot.seeds == [10, 1234, 12]


def test_invalid_traffic_is_counted_by_class_and_never_applied(served):
    driver, c, robot, out = served(lockstep=True, lockstep_timeout=0.3)
    f = c.wait_for(c.frames)
    good = encode(MotorCommand(99, now_ns(), f.seq, now_ns() + 10**9, CommandMode.TORQUE, [7.0]))
    bad = [
        b"",  # truncated
        b"XW" + good[2:],  # bad magic
        good[:2] + b"\x01" + good[3:],  # version 1
        good[:3] + b"\x09" + good[4:],  # unknown kind
        good + b"\x00",  # trailing bytes
        good[:-4] + b"\x00\x00\xc0\x7f",  # NaN
        encode(MotorCommand(98, now_ns(), f.seq, now_ns() + 10**9, CommandMode.VELOCITY, [7.0])),
        encode(MotorCommand(97, now_ns(), f.seq, now_ns() + 10**9, CommandMode.TORQUE, [7.0, 7.0])),
        encode(MotorCommand(96, now_ns(), f.seq, now_ns() + 5 * 10**9, CommandMode.TORQUE, [7.0])),
    ]
    for payload in bad:
        c.put(keys.CMD, payload)
    want = {
        "truncated": 1,
        "bad_magic": 1,
        "unsupported_version": 1,
        "unknown_kind": 1,
        "trailing_bytes": 1,
        "non_finite": 1,
        "spec": 2,
        "far_deadline": 1,
    }
    tel = c.wait_for(c.telemetry, lambda t: dict(t.values)["dropped"] >= 9)
    values = dict(tel.values)
    assert {k: values[f"dropped_{k}"] for k in want} == want
    # Nothing was applied: the frame is re-sent, not stepped.
    again = c.wait_for(c.frames, lambda m: m.stamp_ns > f.stamp_ns)
    assert again.seq == f.seq and robot.x == f.positions[0]


def test_bad_settings_are_refused_before_opening_zenoh():
    for kwargs in [
        dict(robot="a/b"),
        dict(rate_hz=0.0),
        dict(safe_action=[np.nan]),
        dict(safe_action=[]),
        dict(mode=9),
        dict(rate_hz=float("inf")),
    ]:
        opts = dict(robot="r", joints=1, mode=CommandMode.TORQUE, safe_action=[0.0], rate_hz=50.0)
        opts.update(kwargs)
        with pytest.raises(DriverError):
            Driver(**opts)


class IntegratorWithCamera(Integrator):
    """The integrator with a 3x2 RGB camera whose red channel is the
    position (rounded) and a 2x2 depth camera of the position."""

    def cameras(self):
        rgb = np.zeros((2, 3, 3), dtype=np.uint8)
        rgb[..., 0] = int(round(self.x)) % 256
        return [image("front", rgb), image("range", np.full((2, 2), self.x, dtype=np.float32))]


def test_a_robots_cameras_travel_in_the_frame_of_each_reading(served):
    robot = IntegratorWithCamera()
    driver, c, _, out = served(lockstep=True, robot_object=robot, cameras=robot.cameras, seed=3)
    f = c.wait_for(c.frames)
    for _ in range(4):
        front, rng = f.images
        assert (front.name, front.width, front.height) == ("front", 3, 2)
        assert front.encoding == ImageEncoding.RGB8
        px = np.frombuffer(front.data, dtype=np.uint8).reshape(2, 3, 3)
        assert (px[..., 0] == round(f.positions[0])).all() and (px[..., 1:] == 0).all()
        assert rng.encoding == ImageEncoding.DEPTH_F32
        depth = np.frombuffer(rng.data, dtype="<f4")
        assert (depth == np.float32(f.positions[0])).all()
        c.answer(f, [1.0])
        f = c.wait_for(c.frames, lambda m, s=f.seq: m.seq > s)


def test_images_from_arrays_are_checked_before_they_are_sent():
    from umwelt_driver import ImageError, check_images

    assert image("g", np.zeros((4, 5), dtype=np.uint8)).encoding == ImageEncoding.MONO8
    im = image("c", np.arange(24, dtype=np.uint8).reshape(2, 4, 3))
    assert (im.width, im.height, im.data) == (4, 2, bytes(range(24)))
    for bad in [
        np.zeros((2, 2), dtype=np.float64),
        np.zeros((2, 2, 4), dtype=np.uint8),
        np.zeros((0, 3), dtype=np.uint8),
        np.zeros(5, dtype=np.uint8),
    ]:
        with pytest.raises(ImageError):
            image("x", bad)
    with pytest.raises(ImageError):
        image("", np.zeros((1, 1), dtype=np.uint8))
    short = image("s", np.zeros((2, 2), dtype=np.uint8))
    short.data = short.data[:3]
    for images in [[short], [im, im], ["not an image"]]:
        with pytest.raises(ImageError):
            check_images(images)


def test_a_camera_function_that_returns_a_bad_image_stops_the_driver(endpoint):
    driver = Driver(
        robot="integ",
        joints=1,
        mode=CommandMode.TORQUE,
        safe_action=[0.0],
        rate_hz=50.0,
        endpoint=endpoint,
        cameras=lambda: [np.zeros((2, 2))],
    )
    robot = Integrator()
    try:
        with pytest.raises(DriverError, match="cameras"):
            driver.run(robot.step, robot.reset, duration=1.0)
    finally:
        driver.close()
