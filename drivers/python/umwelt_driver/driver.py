"""A driver on zenoh: serve a robot to umwelt from a Python loop.

:class:`Driver` owns the robot's side of the protocol (``docs/PROTOCOL.md``,
"What a driver does"): it publishes a SensorFrame every control period (or,
in lockstep, after each accepted answer), applies the newest valid command
before its deadline or else the safe action, says which in the frame's
``applied``, latches the estop, starts episodes on Reset, and publishes
Status and Telemetry (drop counts by class). Invalid and stale messages are
counted and dropped by the :class:`~umwelt_driver.inbox.DriverInbox`; none
can crash the driver. The robot author supplies two functions::

    reset_fn(seed) -> (positions, velocities, efforts[, channels])
    step_fn(action) -> (positions, velocities, efforts[, channels[, done]])

``action`` is a float32 numpy array (the command's values or the safe
action), ``channels`` a dict or list of ``(name, value)`` pairs (the driver
adds ``episode``), ``done`` ends the episode. A robot with cameras also
passes ``cameras=fn``: ``fn()`` is called right after each reset and step and
returns the images taken with that reading (:func:`~umwelt_driver.images.image`
makes one from a numpy array), sent in the same frame.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import keys
from .codec import encode
from .drops import DropLog
from .errors import EncodeError
from .fresh import now_ns
from .images import ImageError, check_images
from .inbox import Accepted, AcceptedKind, DriverInbox, Dropped, InboxKey, RobotWireSpec
from .messages import (
    APPLIED_NONE,
    APPLIED_SAFE,
    MAX_NAME_LEN,
    Applied,
    CommandMode,
    Image,
    MotorCommand,
    NodeState,
    SensorFrame,
    Status,
    Stepping,
    Telemetry,
)
from .transport import DEFAULT_ENDPOINT, open_session

log = logging.getLogger("umwelt_driver")

StepFn = Callable[[np.ndarray], tuple]
ResetFn = Callable[[int], tuple]
CamerasFn = Callable[[], Sequence[Image]]


class DriverError(RuntimeError):
    """A driver setting is invalid, or the robot's functions returned
    something that cannot be sent (wrong length, non-finite value)."""


@dataclass
class DriverSummary:
    """What :meth:`Driver.run` did."""

    frames: int = 0  # frames published, re-sends included
    resends: int = 0  # lockstep re-sends after a timeout
    commands_applied: int = 0  # steps that applied a command
    safe_steps: int = 0  # steps that applied the safe action
    overruns: int = 0  # real time: ticks started over a period late
    episodes: int = 0  # episodes finished
    returns: List[float] = field(default_factory=list)  # sum of `reward` per finished episode
    dropped: List[Tuple[str, int]] = field(default_factory=list)  # drops by class
    wall_s: float = 0.0


def _channels(ch) -> List[Tuple[str, float]]:
    if ch is None:
        return []
    return list(ch.items()) if isinstance(ch, dict) else [tuple(p) for p in ch]


class Driver:
    """Serves robot ``robot`` on ``umwelt/<robot>/*``.

    ``joints``: the joint count or names (frames carry that many values);
    ``mode``: the actuation mode commands must have; ``safe_action``: one
    value per actuator, applied when no fresh command is in force (its length
    is the actuator count); ``rate_hz``: frames per second in real time (in
    lockstep: the rate the simulated time assumes, only reported).
    ``lockstep`` steps only on an answer to the newest frame and re-sends
    that frame (same ``seq``, new stamp) every ``lockstep_timeout`` s.
    ``node`` names this node in Status. Episode ``i`` starts with seed
    ``seed + i`` unless a Reset names one; ``episode_steps`` ends episodes
    after that many steps. ``cameras``: a function returning the images
    taken with the latest reading (see the module docs). Opens the zenoh session at once (see
    :func:`~umwelt_driver.transport.open_session`); close it with
    :meth:`close` or a ``with`` block. Raises :class:`DriverError` on bad
    settings."""

    def __init__(
        self,
        robot: str,
        joints: Union[int, Sequence[str]],
        mode: Union[CommandMode, int],
        safe_action: Sequence[float],
        rate_hz: float,
        lockstep: bool = False,
        node: str = "driver",
        endpoint: str = DEFAULT_ENDPOINT,
        zenoh_config=None,
        *,
        seed: int = 0,
        lockstep_timeout: float = 2.0,
        episode_steps: Optional[int] = None,
        cameras: Optional[CamerasFn] = None,
    ) -> None:
        try:
            keys.check_robot(robot)
            self.mode = CommandMode(mode)
        except ValueError as e:
            raise DriverError(str(e)) from None
        self.robot = robot
        self.joints = joints if isinstance(joints, int) else len(joints)
        self.safe_action = np.asarray(safe_action, dtype=np.float32).reshape(-1)
        checks = [
            (0 <= self.joints <= 1024, f"joints: {self.joints} not in 0..=1024"),
            (1 <= self.safe_action.size <= 1024, "safe_action: 1 to 1024 values"),
            (bool(np.isfinite(self.safe_action).all()), "safe_action: every value finite"),
            (_finite_in(rate_hz, 1e-3, 1e5), f"rate_hz: {rate_hz!r} not in 0.001..=100000"),
            (_finite_in(lockstep_timeout, 1e-3, 3600), "lockstep_timeout: 0.001 to 3600 s"),
            (0 <= seed < 1 << 64, f"seed: {seed} not a u64"),
            (episode_steps is None or episode_steps >= 1, "episode_steps: at least 1"),
            (0 < len(node.encode()) <= MAX_NAME_LEN, "node: 1 to 255 bytes of UTF-8"),
            (cameras is None or callable(cameras), "cameras: a function returning images"),
        ]
        for ok, why in checks:
            if not ok:
                raise DriverError(f"invalid driver setting: {why}")
        self.period = 1.0 / rate_hz
        self.lockstep = lockstep
        self.node = node
        self.seed = seed
        self.lockstep_timeout = lockstep_timeout
        self.episode_steps = episode_steps
        self.cameras = cameras
        self.stepping = Stepping.LOCKSTEP if lockstep else Stepping.REAL_TIME
        spec = RobotWireSpec(robot, self.joints, int(self.safe_action.size))
        self.inbox = DriverInbox(spec, self.mode, lockstep)
        self.drops = DropLog(lambda line: log.warning("%s: %s", robot, line))
        self.summary = DriverSummary()
        self._lock = threading.Lock()  # guards the inbox (zenoh threads write it)
        self._wake = threading.Event()  # set when a command or Reset arrives
        self._frame_seq = self._status_seq = self._telemetry_seq = 0
        self._last_frame: Optional[SensorFrame] = None
        self._state = NodeState.STARTING
        self._episode = self._step = 0
        self._return = 0.0
        # Real time: when the next tick starts. Lockstep: since when the
        # newest frame waits for its answer. Both monotonic, set by run().
        self._next_tick = self._waited_since = 0.0
        self.session = open_session(endpoint, zenoh_config)
        try:
            self._subs = [
                self.session.declare_subscriber(keys.key(robot, topic), self._callback(inbox_key))
                for topic, inbox_key in (
                    (keys.CMD, InboxKey.CMD),
                    (keys.ESTOP, InboxKey.ESTOP),
                    (keys.ADMIN, InboxKey.ADMIN),
                )
            ]
            # Frames go out at once (express): they are the control path.
            self._sensors = self.session.declare_publisher(
                keys.key(robot, keys.SENSORS), express=True
            )
            self._status_pub = self.session.declare_publisher(keys.key(robot, keys.STATUS))
            self._telemetry_pub = self.session.declare_publisher(keys.key(robot, keys.TELEMETRY))
        except Exception:
            self.session.close()
            raise

    # ------------------------------------------------------------ receiving

    def _callback(self, key: InboxKey):
        def on_sample(sample) -> None:
            # Runs on a zenoh thread: whatever arrives, nothing may escape.
            try:
                self._receive(key, sample.payload.to_bytes())
            except Exception as e:  # a bug here must not kill zenoh's thread
                log.error("%s: receiving on %s failed: %s", self.robot, key.value, e)

        return on_sample

    def _receive(self, key: InboxKey, payload: bytes) -> Union[Accepted, Dropped]:
        """Hands one payload to the inbox; counts drops, logs estops, wakes
        the loop on news. Returns what the inbox said (for tests)."""
        with self._lock:
            outcome = self.inbox.receive(key, payload, now_ns())
        if isinstance(outcome, Dropped):
            self.drops.record(outcome.cls, outcome.why)
        elif outcome.kind == AcceptedKind.ESTOP_ENGAGED:
            log.warning(
                "%s: estop engaged (%s): safe action until released on admin",
                self.robot,
                outcome.reason,
            )
        elif outcome.kind == AcceptedKind.ESTOP_RELEASED:
            log.warning("%s: estop released (%s)", self.robot, outcome.reason)
        if isinstance(outcome, Accepted) and outcome.kind in (
            AcceptedKind.COMMAND,
            AcceptedKind.RESET,
        ):
            self._wake.set()
        return outcome

    # ------------------------------------------------------------ the loop

    def run(
        self,
        step_fn: StepFn,
        reset_fn: ResetFn,
        *,
        duration: Optional[float] = None,
        episodes: Optional[int] = None,
        stop: Optional[threading.Event] = None,
    ) -> DriverSummary:
        """Serves the robot until ``stop`` is set, ``duration`` seconds pass,
        ``episodes`` episodes finish, or Ctrl-C. Publishes a ``stopping``
        Status at the end and returns the :class:`DriverSummary`. Raises
        :class:`DriverError` if ``step_fn``/``reset_fn`` return values that
        cannot be sent; their own exceptions propagate (after ``stopping``)."""
        if duration is not None and not _finite_in(duration, 0.0, 1e9):
            raise DriverError(f"duration: {duration!r} is not a number of seconds >= 0")
        if episodes is not None and not (isinstance(episodes, int) and episodes >= 1):
            raise DriverError(f"episodes: {episodes!r} is not a count >= 1")
        start = time.monotonic()
        s = self.summary
        try:
            self._begin_episode(reset_fn, self.seed, "episode 0 started")
            self._next_tick = self._waited_since = last_periodic = time.monotonic()
            self._next_tick += self.period
            while not (stop is not None and stop.is_set()) and (
                duration is None or time.monotonic() - start < duration
            ):
                if time.monotonic() - last_periodic >= 1.0:
                    last_periodic = time.monotonic()
                    self._periodic()
                command = self._next_command()
                if command is _WAITING:
                    continue
                if self._reset_requested(reset_fn):  # a Reset wins over stepping
                    continue
                if self._step_once(step_fn, command) and self._end_episode(reset_fn, episodes):
                    break
        except KeyboardInterrupt:
            pass
        finally:
            self._status(NodeState.STOPPING, "driver stopping")
            s.wall_s = time.monotonic() - start
            s.dropped = self.drops.by_class()
        return s

    def _next_command(self):
        """The command for the next step (``None``: the safe action), or
        ``_WAITING`` in lockstep while no answer has come (re-sending the
        frame every ``lockstep_timeout``). In real time, waits for the tick."""
        if not self.lockstep:
            now = time.monotonic()
            if self._next_tick > now:
                time.sleep(self._next_tick - now)
            elif now - self._next_tick > self.period:
                self.summary.overruns += 1
                self._next_tick = now
            self._next_tick += self.period
            with self._lock:
                d = self.inbox.decide(now_ns())
            return d if isinstance(d, MotorCommand) else None
        got = self._lockstep_answer()
        if got is not _WAITING:
            self._waited_since = time.monotonic()
        elif time.monotonic() - self._waited_since >= self.lockstep_timeout:
            log.warning(
                "%s: lockstep: no command answering frame %d after %.1f s: "
                "is a controller running? Sending the frame again",
                self.robot,
                self._frame_seq,
                self.lockstep_timeout,
            )
            self._resend()
            self._waited_since = time.monotonic()
        return got

    def _reset_requested(self, reset_fn: ResetFn) -> bool:
        """Starts the episode a pending Reset asks for, if any."""
        with self._lock:
            reset_seq = self.inbox.reset_seq
            reset = self.inbox.take_reset()
        if reset is None:
            return False
        (seed,) = reset
        self._episode += 1
        seed = (self.seed + self._episode) % (1 << 64) if seed is None else seed
        why = f"episode {self._episode} started on request (seed {seed})"
        self._begin_episode(reset_fn, seed, why, Applied.reset(reset_seq))
        self._waited_since = time.monotonic()
        return True

    def _lockstep_answer(self):
        """The answer to the newest frame, ``None`` when a Reset is pending
        instead, or ``_WAITING`` after waiting up to 50 ms for news."""
        self._wake.clear()  # before looking, so that no news is missed
        with self._lock:
            if self.inbox.has_answer():
                return self.inbox.take_answer()
            if self.inbox.has_pending_reset():
                return None
        self._wake.wait(min(0.05, self.lockstep_timeout))
        return _WAITING

    def _step_once(self, step_fn: StepFn, command: Optional[MotorCommand]) -> bool:
        """Applies ``command`` (or the safe action) for one step and
        publishes the frame it leads to; returns whether the episode ended."""
        with self._lock:
            estopped = self.inbox.estop.engaged
        if estopped:
            action, state = self.safe_action, NodeState.ESTOPPED
        elif command is not None:
            action, state = np.asarray(command.values, dtype=np.float32), NodeState.RUNNING
        else:
            action, state = self.safe_action, NodeState.SAFE_HOLD
        if state == NodeState.RUNNING:
            self.summary.commands_applied += 1
            applied = Applied.command(command.seq)
        else:
            self.summary.safe_steps += 1
            applied = APPLIED_SAFE
        if state != self._state:
            self._status(state, _WHY[state])
        out = step_fn(action.copy())
        if not isinstance(out, tuple) or len(out) not in (3, 4, 5):
            raise DriverError(
                "step_fn must return (positions, velocities, efforts[, channels[, done]])"
            )
        self._step += 1
        channels = _channels(out[3] if len(out) > 3 else None)
        self._frame(out[:3], channels, applied)
        for name, v in channels:
            if name == keys.REWARD:
                self._return += float(v)
                break
        done = bool(out[4]) if len(out) > 4 else False
        return done or (self.episode_steps is not None and self._step >= self.episode_steps)

    def _end_episode(self, reset_fn: ResetFn, episodes: Optional[int]) -> bool:
        """Books the finished episode and starts the next; returns whether
        ``episodes`` are done."""
        s = self.summary
        s.episodes += 1
        s.returns.append(self._return)
        self._episode += 1
        if episodes is not None and s.episodes >= episodes:
            return True
        seed = (self.seed + self._episode) % (1 << 64)
        self._begin_episode(reset_fn, seed, f"episode {self._episode} started (seed {seed})")
        return False

    def _begin_episode(
        self, reset_fn: ResetFn, seed: int, why: str, first: Applied = APPLIED_NONE
    ) -> None:
        out = reset_fn(seed)
        if not isinstance(out, tuple) or len(out) not in (3, 4):
            raise DriverError("reset_fn must return (positions, velocities, efforts[, channels])")
        with self._lock:
            self.inbox.new_episode()
        self._step, self._return = 0, 0.0
        self._status(NodeState.EPISODE_RESET, why)
        self._frame(out[:3], _channels(out[3] if len(out) > 3 else None), first)

    # ------------------------------------------------------------ publishing

    def _frame(self, pve, channels: List[Tuple[str, float]], applied: Applied) -> None:
        """Publishes the next frame; the inbox learns of it first, so that an
        answer arriving at once is recognised."""
        positions, velocities, efforts = pve
        if any(np.size(x) != self.joints for x in pve):
            raise DriverError(
                f"{self.robot}: positions, velocities and efforts must have "
                f"{self.joints} values each, got {[int(np.size(x)) for x in pve]}"
            )
        if not any(n == keys.EPISODE for n, _ in channels):
            channels = channels + [(keys.EPISODE, float(self._episode))]
        images = []
        if self.cameras is not None:
            try:
                images = check_images(self.cameras())
            except ImageError as e:
                raise DriverError(f"{self.robot}: the robot's cameras: {e}") from e
        self._frame_seq += 1
        frame = SensorFrame(
            self._frame_seq,
            now_ns(),
            self.robot,
            positions,
            velocities,
            efforts,
            channels,
            images,
            applied=applied,
        )
        self._publish_frame(frame)

    def _resend(self) -> None:
        """Sends the last frame again: same ``seq``, new stamp (a re-send,
        not a replay)."""
        if self._last_frame is not None:
            self._last_frame.stamp_ns = now_ns()
            self.summary.resends += 1
            self._publish_frame(self._last_frame)

    def _publish_frame(self, frame: SensorFrame) -> None:
        try:
            payload = encode(frame)
        except EncodeError as e:
            raise DriverError(f"{self.robot}: the robot's frame cannot be sent: {e}") from e
        with self._lock:
            self.inbox.frame_sent(frame.seq, frame.stamp_ns)
        self._sensors.put(payload)
        self._last_frame = frame
        self.summary.frames += 1

    def _status(self, state: NodeState, message: str) -> None:
        if state != NodeState.EPISODE_RESET:
            self._state = state
        self._status_seq += 1
        msg = Status(
            self._status_seq,
            now_ns(),
            self.node,
            self.stepping,
            state,
            self._episode % (1 << 32),
            self._step % (1 << 32),
            _clip(f"{self.robot}: {message}", 4096),
        )
        self._status_pub.put(encode(msg))

    def _periodic(self) -> None:
        """Once a second: a Status (with drop counts and an alarm under
        sustained invalid traffic) and Telemetry."""
        s = self.summary
        msg = (
            f"{s.frames} frames, {s.commands_applied} commands applied, "
            f"{s.safe_steps} safe steps; {self.drops.summary()}"
        )
        alarm = self.drops.second_passed()
        if alarm:
            log.warning("%s: %s", self.robot, alarm)
            msg = f"{alarm}; {msg}"
        self._status(self._state, msg)
        self._telemetry_seq += 1
        values = [
            ("frames", float(s.frames)),
            ("resends", float(s.resends)),
            ("commands_applied", float(s.commands_applied)),
            ("safe_steps", float(s.safe_steps)),
            ("overruns", float(s.overruns)),
            ("episodes", float(s.episodes)),
        ] + self.drops.telemetry_values()
        self._telemetry_pub.put(encode(Telemetry(self._telemetry_seq, now_ns(), values)))

    def close(self) -> None:
        """Undeclares everything and closes the zenoh session (idempotent)."""
        entities, self._subs = getattr(self, "_subs", []), []
        for name in ("_sensors", "_status_pub", "_telemetry_pub"):
            if getattr(self, name, None) is not None:
                entities.append(getattr(self, name))
                setattr(self, name, None)
        for e in entities:
            e.undeclare()
        if getattr(self, "session", None) is not None:
            self.session.close()
            self.session = None

    def __enter__(self) -> "Driver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_WAITING = object()  # lockstep: no answer yet

_WHY = {
    NodeState.RUNNING: "commands arriving",
    NodeState.SAFE_HOLD: "no fresh command within its deadline: applying the safe action",
    NodeState.ESTOPPED: "estop engaged: applying the safe action",
}


def _finite_in(x, lo: float, hi: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and lo <= x <= hi


def _clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, on a character boundary."""
    raw = text.encode("utf-8")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")
