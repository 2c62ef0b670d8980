"""A small controller-side zenoh client for tests and the benchmark: it
decodes what a robot publishes and sends commands, estops and resets."""

import queue
import time

import zenoh

from umwelt_driver import (
    CommandMode,
    DecodeError,
    Estop,
    MotorCommand,
    Reset,
    decode_sensor_frame,
    decode_status,
    decode_telemetry,
    encode,
    now_ns,
    open_session,
)
from umwelt_driver import keys

WAIT_S = 20.0  # generous: only a broken run waits this long


class Client:
    """Subscribes to a robot's sensors, status and telemetry (decoded into
    queues; undecodable payloads into ``errors``) and publishes on its
    cmd, estop and admin keys."""

    def __init__(self, endpoint: str, robot: str):
        self.robot = robot
        self.session = open_session(endpoint)
        self.frames, self.status, self.telemetry = queue.Queue(), queue.Queue(), queue.Queue()
        self.errors = []
        self.seq = 0

        def into(q, dec):
            def cb(sample):
                try:
                    q.put(dec(sample.payload.to_bytes()))
                except DecodeError as e:
                    self.errors.append(e)

            return cb

        self._subs = [
            self.session.declare_subscriber(
                keys.key(robot, keys.SENSORS), into(self.frames, decode_sensor_frame)
            ),
            self.session.declare_subscriber(
                keys.key(robot, keys.STATUS), into(self.status, decode_status)
            ),
            self.session.declare_subscriber(
                keys.key(robot, keys.TELEMETRY), into(self.telemetry, decode_telemetry)
            ),
        ]
        # BLOCK: a test's burst of messages must not be dropped by zenoh
        # when its queue is momentarily full on a loaded machine.
        self._pubs = {
            t: self.session.declare_publisher(
                keys.key(robot, t), express=True, congestion_control=zenoh.CongestionControl.BLOCK
            )
            for t in (keys.CMD, keys.ESTOP, keys.ADMIN)
        }

    def wait_for(self, q, pred=lambda m: True, timeout=WAIT_S):
        """The first message from ``q`` satisfying ``pred`` (others are
        skipped); fails the test after ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                m = q.get(timeout=max(0.0, min(0.5, end - time.monotonic())))
            except queue.Empty:
                continue
            if pred(m):
                return m
        raise AssertionError(f"no matching message within {timeout} s")

    def answer(self, frame, values, mode=CommandMode.TORQUE, deadline_ms=500.0):
        """Publishes the command answering ``frame``; returns its seq."""
        self.seq += 1
        now = now_ns()
        self.put(
            keys.CMD,
            encode(
                MotorCommand(
                    self.seq, now, frame.seq, now + int(deadline_ms * 1e6), mode, list(values)
                )
            ),
        )
        return self.seq

    def estop(self, engage: bool, topic: str):
        self.seq += 1
        self.put(topic, encode(Estop(self.seq, now_ns(), engage, "test")))

    def reset(self, seed, topic=keys.CMD):
        self.seq += 1
        self.put(topic, encode(Reset(self.seq, now_ns(), seed)))

    def put(self, topic: str, payload: bytes):
        """Publishes once a subscriber matches ``topic`` (zenoh drops what
        is put before the route to a new peer's subscriber is known)."""
        pub = self._pubs[topic]
        end = time.monotonic() + WAIT_S
        while not pub.matching_status.matching:
            if time.monotonic() > end:
                raise AssertionError(f"nobody subscribes to {topic} after {WAIT_S} s")
            time.sleep(0.01)
        pub.put(payload)

    def close(self):
        for e in self._subs + list(self._pubs.values()):
            e.undeclare()
        self.session.close()
