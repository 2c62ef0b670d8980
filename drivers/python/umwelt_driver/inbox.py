"""What a driver does with the messages it receives, without a network
(Rust: ``umwelt_protocol::driver::DriverInbox``, mirrored in behaviour).

The driver tells the inbox each frame it publishes (:meth:`DriverInbox.frame_sent`)
and hands it every payload with the key it came on (:meth:`DriverInbox.receive`,
which never raises); each step it asks what to apply
(:meth:`DriverInbox.decide` in real time, :meth:`DriverInbox.take_answer`
in lockstep) and whether a Reset is pending. Not thread-safe by itself: the
:class:`~umwelt_driver.driver.Driver` holds a lock around it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import List, Optional, Tuple, Union

from .codec import decode, decode_estop
from .errors import DecodeError, ErrorClass, Refused
from .fresh import CommandGate, StampGate
from .messages import CommandMode, Estop, MotorCommand, Reset


class InboxKey(enum.Enum):
    """The key a payload arrived on (``umwelt/<robot>/<topic>``)."""

    CMD = "cmd"
    ESTOP = "estop"
    ADMIN = "admin"


@dataclass(frozen=True)
class RobotWireSpec:
    """What a robot's messages must look like: its name, joint count, the
    channels its frames must carry, and its actuator count."""

    robot: str
    joints: int
    actuators: int
    channels: Tuple[str, ...] = ()


class AcceptedKind(enum.Enum):
    """What an accepted payload asked for."""

    COMMAND = "command"  # a fresh command, now the one to apply
    SUPERSEDED = "superseded"  # fresh, but an earlier arrival answers a later frame
    ESTOP_ENGAGED = "estop_engaged"
    ESTOP_RELEASED = "estop_released"
    RESET = "reset"  # a Reset is pending, with ``seed`` (None: the driver's next)


@dataclass(frozen=True)
class Accepted:
    """A payload the inbox accepted: ``kind``, the estop's ``reason``, a
    Reset's ``seed``."""

    kind: AcceptedKind
    reason: str = ""
    seed: Optional[int] = None


@dataclass(frozen=True)
class Dropped:
    """A payload the inbox dropped: the ``cls`` it is counted under and a
    sentence ``why`` for logs."""

    cls: ErrorClass
    why: str


class Decision(enum.Enum):
    """Real time: why the safe action applies (``Decision`` values), or a
    command (returned as the :class:`MotorCommand` itself)."""

    ESTOPPED = "estopped"
    NO_COMMAND = "no_command"


class EstopState:
    """The emergency stop as a latch: any valid Estop engages it on
    ``estop`` or ``admin``; only a fresh release on ``admin`` releases it."""

    def __init__(self) -> None:
        self.engaged = False
        self.reason = ""
        self._releases = StampGate()

    def apply(self, key: InboxKey, e: Estop, now: int) -> Union[Accepted, Dropped]:
        """Engaging is always honoured; a release only on ``ADMIN``
        (``UNAUTHORISED`` elsewhere) and only fresh and newer than the last
        release (``STALE``, ``FUTURE_STAMP``)."""
        if e.engage:
            self.engaged, self.reason = True, e.reason
            return Accepted(AcceptedKind.ESTOP_ENGAGED, reason=e.reason)
        if key != InboxKey.ADMIN:
            return Dropped(ErrorClass.UNAUTHORISED, "estop release: honoured only on the admin key")
        try:
            self._releases.accept(e.stamp_ns, now)
        except Refused as r:
            return Dropped(r.cls, f"estop release: {r}")
        self.engaged, self.reason = False, e.reason
        return Accepted(AcceptedKind.ESTOP_RELEASED, reason=e.reason)


@dataclass
class DriverInbox:
    """A driver's inbox for a robot whose messages fit ``spec``, driven in
    ``mode``, real time or in ``lockstep``: commands, estops and resets,
    checked and kept."""

    spec: RobotWireSpec
    mode: CommandMode
    lockstep: bool = False
    gate: CommandGate = field(default_factory=CommandGate)
    estop: EstopState = field(default_factory=EstopState)
    # The newest frame sent (seq, stamp): what lockstep waits to be answered.
    newest_frame: Optional[Tuple[int, int]] = None
    # Real time: the command in force. Lockstep: the answer to the newest frame.
    command: Optional[MotorCommand] = None
    reset: Optional[Tuple[Optional[int]]] = None
    reset_seq: int = 0  # the pending Reset's seq, echoed by its first frame
    _resets_cmd: StampGate = field(default_factory=StampGate)
    _resets_admin: StampGate = field(default_factory=StampGate)

    def frame_sent(self, seq: int, stamp_ns: int) -> None:
        """Records a published frame (a re-send included). In lockstep, an
        answer to an older frame is discarded."""
        self.gate.frame_sent(seq, stamp_ns)
        if self.lockstep and (self.newest_frame is None or self.newest_frame[0] != seq):
            self.command = None
        self.newest_frame = (seq, stamp_ns)

    def new_episode(self) -> None:
        """A new episode begins: commands answering the last one's frames no
        longer count."""
        self.gate.clear()
        self.newest_frame = None
        self.command = None

    def receive(self, key: InboxKey, payload: bytes, now: int) -> Union[Accepted, Dropped]:
        """Checks a payload that arrived on ``key`` at ``now`` (ns) and keeps
        what it asks for, or says why it was dropped. Never raises on any
        payload."""
        try:
            if key == InboxKey.ESTOP:
                return self.estop.apply(key, decode_estop(payload), now)
            msg = decode(payload)
        except DecodeError as e:
            return Dropped(e.cls, str(e))
        if key == InboxKey.CMD and isinstance(msg, MotorCommand):
            return self._command(msg, now)
        if isinstance(msg, Reset):
            gate = self._resets_admin if key == InboxKey.ADMIN else self._resets_cmd
            try:
                gate.accept(msg.stamp_ns, now)
            except Refused as r:
                return Dropped(r.cls, f"reset: {r}")
            self.reset = (msg.seed,)
            self.reset_seq = msg.seq
            return Accepted(AcceptedKind.RESET, seed=msg.seed)
        if key == InboxKey.ADMIN and isinstance(msg, Estop):
            return self.estop.apply(key, msg, now)
        return Dropped(
            ErrorClass.WRONG_KIND,
            f"a {type(msg).__name__} message does not belong on {key.value}",
        )

    def _command(self, cmd: MotorCommand, now: int) -> Union[Accepted, Dropped]:
        if len(cmd.values) != self.spec.actuators:
            return Dropped(
                ErrorClass.SPEC,
                f"robot {self.spec.robot!r}: command has {len(cmd.values)} values, "
                f"expected {self.spec.actuators} (one per actuator)",
            )
        if cmd.mode != self.mode:
            return Dropped(
                ErrorClass.SPEC,
                f"mode {cmd.mode.name.lower()}, but this robot takes "
                f"{CommandMode(self.mode).name.lower()} commands",
            )
        try:
            if self.lockstep:
                seq, stamp = self.newest_frame or (0, (1 << 64) - 1)
                CommandGate.check_lockstep(cmd, seq, stamp, now)
            else:
                self.gate.check(cmd, now)
        except Refused as r:
            return Dropped(r.cls, str(r))
        if CommandGate.supersedes(cmd, self.command):
            self.command = cmd
            return Accepted(AcceptedKind.COMMAND)
        return Accepted(AcceptedKind.SUPERSEDED)

    def decide(self, now: int) -> Union[MotorCommand, Decision]:
        """Real time: the command in force for a step starting at ``now``
        while its deadline has not passed, else why the safe action applies."""
        if self.estop.engaged:
            return Decision.ESTOPPED
        c = self.command
        if c is not None and now < c.deadline_ns:
            return c
        return Decision.NO_COMMAND

    def take_answer(self) -> Optional[MotorCommand]:
        """Lockstep: the answer to the newest frame, if one came (taken: the
        next frame needs its own)."""
        c, self.command = self.command, None
        return c

    def has_answer(self) -> bool:
        """Whether an answer to the newest frame is waiting (lockstep)."""
        return self.lockstep and self.command is not None

    def has_pending_reset(self) -> bool:
        """Whether a Reset is pending."""
        return self.reset is not None

    def take_reset(self) -> Optional[Tuple[Optional[int]]]:
        """A pending Reset as a 1-tuple ``(seed,)`` (seed ``None``: the
        driver's choice), taken; ``None`` when there is none."""
        r, self.reset = self.reset, None
        return r


__all__: List[str] = [
    "Accepted",
    "AcceptedKind",
    "Decision",
    "DriverInbox",
    "Dropped",
    "EstopState",
    "InboxKey",
    "RobotWireSpec",
]
