"""Freshness: which valid messages a node may act on (``docs/PROTOCOL.md``,
"Freshness"; Rust: ``umwelt_protocol::fresh``, mirrored rule for rule).

- a **command** (:class:`CommandGate`) has a deadline in the future and at
  most :data:`MAX_DEADLINE_AHEAD_NS` ahead, and answers a frame the driver
  itself sent within the last :data:`ANSWER_WINDOW_NS`; in lockstep it
  answers the newest frame with a deadline later than that frame's stamp;
- a **frame** (:class:`FrameGate`) has a stamp newer than the last accepted
  and within :data:`MAX_AGE_NS` / :data:`MAX_SKEW_NS` of the receiver's clock;
- a **privileged message** (Reset, estop release: :class:`StampGate`) has a
  fresh stamp newer than the last one accepted on its key.

Every rule is a pure function of the message, the node's own history and a
clock value ``now_ns`` (ns since the UNIX epoch), so tests need no network.
A refusal raises :class:`Refused` with the class it is counted under.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from typing import Deque, Dict, Optional, Tuple

from .errors import ErrorClass, Refused
from .messages import MotorCommand, SensorFrame

#: Furthest a command's deadline may lie ahead of the driver's clock (1 s):
#: a forged far deadline must not keep a command alive.
MAX_DEADLINE_AHEAD_NS = 1_000_000_000
#: How long after a frame was sent a command may still answer it (1 s).
ANSWER_WINDOW_NS = 1_000_000_000
#: Oldest stamp a frame, Reset or release may carry (1 s).
MAX_AGE_NS = 1_000_000_000
#: Furthest a stamp may lie ahead of the receiver's clock (0.5 s).
MAX_SKEW_NS = 500_000_000
#: Frames a CommandGate remembers at most (a 4 kHz driver's window).
MAX_REMEMBERED_FRAMES = 4096


def now_ns() -> int:
    """The protocol's clock: ns since the UNIX epoch (system clock)."""
    return time.time_ns()


def check_stamp(stamp_ns: int, now: int) -> None:
    """Refuses a stamp more than :data:`MAX_SKEW_NS` ahead of ``now``
    (``FUTURE_STAMP``) or more than :data:`MAX_AGE_NS` old (``STALE``)."""
    if stamp_ns > now + MAX_SKEW_NS:
        raise Refused(ErrorClass.FUTURE_STAMP, "stamped in the future")
    if now - stamp_ns > MAX_AGE_NS:
        raise Refused(ErrorClass.STALE, "stale or replayed (stamp not fresh)")


class CommandGate:
    """The driver's side: which commands answer frames it really sent, recently.

    Call :meth:`frame_sent` for every frame published (re-sends included)
    and :meth:`check` on every valid command; :meth:`supersedes` then picks
    the command to apply among those that passed."""

    def __init__(self) -> None:
        # The seqs of the frames sent, oldest first, and each one's stamp (a
        # dict beside the deque: a fast lockstep driver sends thousands of
        # frames a second, and a linear search per frame would cost more
        # than the rest of the step).
        self._order: Deque[int] = deque()
        self._stamps: Dict[int, int] = {}

    def frame_sent(self, seq: int, stamp_ns: int) -> None:
        """Records a published frame; the same ``seq`` again refreshes its
        stamp. Forgets frames beyond :data:`MAX_REMEMBERED_FRAMES` or older
        than :data:`ANSWER_WINDOW_NS` before this one."""
        old = self._stamps.get(seq)
        if old is not None:
            self._stamps[seq] = max(old, stamp_ns)
        else:
            if len(self._order) == MAX_REMEMBERED_FRAMES:
                del self._stamps[self._order.popleft()]
            self._order.append(seq)
            self._stamps[seq] = stamp_ns
        oldest = stamp_ns - ANSWER_WINDOW_NS
        while self._order and self._stamps[self._order[0]] < oldest:
            del self._stamps[self._order.popleft()]

    def clear(self) -> None:
        """Forgets every frame (a new episode: old answers answer nothing)."""
        self._order.clear()
        self._stamps.clear()

    def __len__(self) -> int:
        return len(self._order)

    def sent_stamp(self, seq: int, now: int) -> Optional[int]:
        """The stamp of sent frame ``seq`` if it is still answerable at ``now``."""
        t = self._stamps.get(seq)
        return t if t is not None and now - t <= ANSWER_WINDOW_NS else None

    def check(self, cmd: MotorCommand, now: int) -> None:
        """Real time: refuses a command whose deadline has passed
        (``EXPIRED``), lies more than 1 s ahead (``FAR_DEADLINE``) or that
        answers no frame sent within the window (``UNANSWERED``)."""
        if cmd.deadline_ns <= now:
            raise Refused(ErrorClass.EXPIRED, "motor command: its deadline has passed")
        if cmd.deadline_ns - now > MAX_DEADLINE_AHEAD_NS:
            raise Refused(ErrorClass.FAR_DEADLINE, "motor command: its deadline is too far ahead")
        if self.sent_stamp(cmd.answers_seq, now) is None:
            raise Refused(ErrorClass.UNANSWERED, "motor command: answers no frame sent recently")

    @staticmethod
    def check_lockstep(cmd: MotorCommand, frame_seq: int, frame_stamp_ns: int, now: int) -> None:
        """Lockstep: refuses a command that does not answer the newest frame
        (``UNANSWERED``), whose deadline is not later than that frame's
        stamp, i.e. not made for it (``EXPIRED``), or more than 1 s ahead of
        ``now`` (``FAR_DEADLINE``). Lateness on the wall clock is allowed."""
        if cmd.answers_seq != frame_seq:
            raise Refused(ErrorClass.UNANSWERED, "motor command: answers no frame sent recently")
        if cmd.deadline_ns <= frame_stamp_ns:
            raise Refused(ErrorClass.EXPIRED, "motor command: its deadline has passed")
        if cmd.deadline_ns - now > MAX_DEADLINE_AHEAD_NS:
            raise Refused(ErrorClass.FAR_DEADLINE, "motor command: its deadline is too far ahead")

    @staticmethod
    def supersedes(candidate: MotorCommand, current: Optional[MotorCommand]) -> bool:
        """Whether ``candidate`` (arrived after ``current``) replaces it: it
        answers the same frame or a later one. The sender's ``seq`` plays no
        part, so a forged ``seq = 2**64 - 1`` wins nothing."""
        return current is None or candidate.answers_seq >= current.answers_seq


class FrameOrder(enum.Enum):
    """How a frame accepted by a :class:`FrameGate` follows the last one."""

    FIRST = "first"
    NEXT = "next"
    RESENT = "resent"
    RESTARTED = "restarted"


class FrameGate:
    """The controller's side: accepts a robot's frames only fresh and in order."""

    def __init__(self) -> None:
        self._last: Optional[Tuple[int, int]] = None
        #: Times the publisher was seen to restart (``seq`` fell).
        self.restarts = 0

    def accept(self, frame: SensorFrame, now: int) -> FrameOrder:
        """Accepts ``frame`` if its stamp is fresh and newer than the last
        accepted (else :class:`Refused` ``STALE``/``FUTURE_STAMP``), and
        says how it follows the last one."""
        check_stamp(frame.stamp_ns, now)
        if self._last is None:
            order = FrameOrder.FIRST
        elif frame.stamp_ns <= self._last[1]:
            raise Refused(ErrorClass.STALE, "frame: stale or replayed (stamp not newer)")
        elif frame.seq > self._last[0]:
            order = FrameOrder.NEXT
        elif frame.seq == self._last[0]:
            order = FrameOrder.RESENT
        else:
            order = FrameOrder.RESTARTED
            self.restarts += 1
        self._last = (frame.seq, frame.stamp_ns)
        return order


class StampGate:
    """Accepts privileged messages on one key only when fresh and newer than
    the last accepted: a replay of a genuine one is refused."""

    def __init__(self) -> None:
        self._last: Optional[int] = None

    def accept(self, stamp_ns: int, now: int) -> None:
        """Accepts a message stamped ``stamp_ns`` at ``now``, else
        :class:`Refused` (``STALE``, ``FUTURE_STAMP``)."""
        check_stamp(stamp_ns, now)
        if self._last is not None and stamp_ns <= self._last:
            raise Refused(ErrorClass.STALE, "stale or replayed (stamp not newer)")
        self._last = stamp_ns
