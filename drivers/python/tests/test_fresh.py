"""The freshness rules (docs/PROTOCOL.md "Freshness"), case by case as the
Rust crate's own tests of umwelt_protocol::fresh."""

import pytest

from umwelt_driver import CommandMode, ErrorClass, MotorCommand, Refused, SensorFrame
from umwelt_driver.fresh import (
    ANSWER_WINDOW_NS,
    MAX_AGE_NS,
    MAX_DEADLINE_AHEAD_NS,
    MAX_REMEMBERED_FRAMES,
    MAX_SKEW_NS,
    CommandGate,
    FrameGate,
    FrameOrder,
    StampGate,
    check_stamp,
)

T = 1_700_000_000_000_000_000
MS = 1_000_000
U64_MAX = (1 << 64) - 1


def cmd(answers_seq, deadline_ns, seq=1):
    return MotorCommand(seq, T, answers_seq, deadline_ns, CommandMode.TORQUE, [0.0])


def frame(seq, stamp_ns):
    return SensorFrame(seq, stamp_ns, "r")


def refused_as(cls, f, *args):
    with pytest.raises(Refused) as e:
        f(*args)
    assert e.value.cls == cls


def test_a_command_must_answer_a_recent_frame_before_its_deadline():
    g = CommandGate()
    refused_as(ErrorClass.UNANSWERED, g.check, cmd(1, T + 20 * MS), T)
    g.frame_sent(1, T)
    g.frame_sent(2, T + 10 * MS)
    g.check(cmd(1, T + 20 * MS), T + 10 * MS)
    g.check(cmd(2, T + 20 * MS), T + 10 * MS)
    refused_as(ErrorClass.UNANSWERED, g.check, cmd(3, T + 20 * MS), T + 10 * MS)
    refused_as(ErrorClass.FAR_DEADLINE, g.check, cmd(U64_MAX, U64_MAX), T)
    refused_as(ErrorClass.EXPIRED, g.check, cmd(2, T + 10 * MS), T + 10 * MS)
    refused_as(ErrorClass.EXPIRED, g.check, cmd(2, T), T + 10 * MS)
    refused_as(
        ErrorClass.FAR_DEADLINE,
        g.check,
        cmd(2, T + 10 * MS + MAX_DEADLINE_AHEAD_NS + 1),
        T + 10 * MS,
    )
    g.check(cmd(2, T + 10 * MS + MAX_DEADLINE_AHEAD_NS), T + 10 * MS)  # inclusive
    # Frame 1 leaves the answer window.
    later = T + ANSWER_WINDOW_NS + 5 * MS
    refused_as(ErrorClass.UNANSWERED, g.check, cmd(1, later + MS), later)
    g.check(cmd(2, later + MS), later)


def test_the_gate_forgets_old_frames_and_bounds_its_memory():
    g = CommandGate()
    for i in range(MAX_REMEMBERED_FRAMES + 10):
        g.frame_sent(i, T + i)
    assert len(g) == MAX_REMEMBERED_FRAMES
    assert g.sent_stamp(0, T) is None and g.sent_stamp(10, T + 10) == T + 10
    g.frame_sent(99_999, T + 2 * ANSWER_WINDOW_NS)
    assert len(g) == 1
    g.clear()
    assert g.sent_stamp(99_999, T + 2 * ANSWER_WINDOW_NS) is None


def test_a_resent_frame_refreshes_its_stamp():
    g = CommandGate()
    g.frame_sent(5, T)
    g.frame_sent(5, T + 900 * MS)
    g.frame_sent(5, T + 100 * MS)  # never goes back
    assert g.sent_stamp(5, T + 1500 * MS) == T + 900 * MS
    g.check(cmd(5, T + 1600 * MS), T + 1500 * MS)


def test_lockstep_takes_only_an_answer_to_the_newest_frame_made_after_it():
    now = T + 5 * MS
    CommandGate.check_lockstep(cmd(7, T + 20 * MS), 7, T, now)
    # Late on the wall clock is fine in lockstep.
    CommandGate.check_lockstep(cmd(7, T + 20 * MS), 7, T, T + 900 * MS)
    refused_as(ErrorClass.UNANSWERED, CommandGate.check_lockstep, cmd(6, T + 20 * MS), 7, T, now)
    # A replay from an earlier run: its deadline precedes the frame.
    refused_as(ErrorClass.EXPIRED, CommandGate.check_lockstep, cmd(7, T - MS), 7, T, now)
    refused_as(ErrorClass.FAR_DEADLINE, CommandGate.check_lockstep, cmd(7, U64_MAX), 7, T, now)


def test_selection_ignores_the_senders_seq():
    forged = cmd(5, T, seq=U64_MAX)
    real = cmd(6, T, seq=1)
    assert CommandGate.supersedes(real, forged)
    assert not CommandGate.supersedes(forged, real)
    assert CommandGate.supersedes(forged, None)
    assert CommandGate.supersedes(cmd(6, T), real), "same frame: the later arrival"


def test_frames_must_be_fresh_and_in_order():
    g = FrameGate()
    assert g.accept(frame(10, T), T) == FrameOrder.FIRST
    assert g.accept(frame(11, T + MS), T + MS) == FrameOrder.NEXT
    # Replays and duplicates, even with a larger seq.
    refused_as(ErrorClass.STALE, g.accept, frame(11, T + MS), T + 2 * MS)
    refused_as(ErrorClass.STALE, g.accept, frame(U64_MAX, T), T + 2 * MS)
    # A re-sent frame keeps its seq with a new stamp.
    assert g.accept(frame(11, T + 3 * MS), T + 3 * MS) == FrameOrder.RESENT
    # A restarted driver numbers from 1 again with fresh stamps.
    assert g.accept(frame(1, T + 4 * MS), T + 4 * MS) == FrameOrder.RESTARTED
    assert g.restarts == 1
    now = T + 4 * MS + 2 * MAX_AGE_NS
    refused_as(ErrorClass.STALE, g.accept, frame(2, T + 5 * MS), now)
    refused_as(ErrorClass.FUTURE_STAMP, g.accept, frame(2, now + MAX_SKEW_NS + 1), now)
    assert g.accept(frame(2, now), now) == FrameOrder.NEXT


def test_privileged_messages_are_accepted_once_and_fresh():
    g = StampGate()
    g.accept(T, T + MS)
    refused_as(ErrorClass.STALE, g.accept, T, T + 2 * MS)  # a replay
    g.accept(T + MS, T + 2 * MS)
    refused_as(ErrorClass.STALE, g.accept, T - MAX_AGE_NS, T + 2 * MS)
    refused_as(ErrorClass.FUTURE_STAMP, g.accept, U64_MAX, T)
    refused_as(ErrorClass.STALE, check_stamp, 0, T)
    check_stamp(T + MAX_SKEW_NS, T)  # bounds inclusive
    check_stamp(T - MAX_AGE_NS, T)
