"""A driver's receiving rules without a network (the Rust DriverInbox):
which command is in force, lockstep answers, the estop latch, Resets, and
drops by class; plus the drop log's counts and alarm."""

from umwelt_driver import (
    CommandMode,
    ErrorClass,
    Estop,
    MotorCommand,
    Reset,
    Status,
    Stepping,
    encode,
)
from umwelt_driver.drops import DropLog
from umwelt_driver.inbox import (
    AcceptedKind,
    Decision,
    DriverInbox,
    Dropped,
    InboxKey,
    RobotWireSpec,
)
from umwelt_driver.messages import NodeState

T = 1_700_000_000_000_000_000
MS = 1_000_000
SPEC = RobotWireSpec("arm", joints=2, actuators=2)


def cmd(answers, deadline, seq=1, values=(0.5, -0.5), mode=CommandMode.TORQUE, stamp=T):
    return encode(MotorCommand(seq, stamp, answers, deadline, mode, list(values)))


def kind(outcome):
    return outcome.cls if isinstance(outcome, Dropped) else outcome.kind


def test_real_time_applies_the_fresh_command_answering_the_latest_frame():
    ib = DriverInbox(SPEC, CommandMode.TORQUE)
    assert ib.decide(T) == Decision.NO_COMMAND
    assert kind(ib.receive(InboxKey.CMD, cmd(1, T + 20 * MS), T)) == ErrorClass.UNANSWERED
    ib.frame_sent(1, T)
    ib.frame_sent(2, T + 10 * MS)
    assert (
        kind(ib.receive(InboxKey.CMD, cmd(2, T + 30 * MS, seq=9), T + 11 * MS))
        == AcceptedKind.COMMAND
    )
    # An answer to an older frame, with a forged huge seq, does not win.
    old = cmd(1, T + 40 * MS, seq=(1 << 64) - 1)
    assert kind(ib.receive(InboxKey.CMD, old, T + 12 * MS)) == AcceptedKind.SUPERSEDED
    in_force = ib.decide(T + 20 * MS)
    assert isinstance(in_force, MotorCommand) and in_force.seq == 9
    assert ib.decide(T + 30 * MS) == Decision.NO_COMMAND  # its deadline passed
    # Wrong count, wrong mode, expired, far deadline: dropped by class.
    assert (
        kind(ib.receive(InboxKey.CMD, cmd(2, T + 30 * MS, values=[1.0]), T + 12 * MS))
        == ErrorClass.SPEC
    )
    assert (
        kind(ib.receive(InboxKey.CMD, cmd(2, T + 30 * MS, mode=CommandMode.VELOCITY), T + 12 * MS))
        == ErrorClass.SPEC
    )
    assert kind(ib.receive(InboxKey.CMD, cmd(2, T + 12 * MS), T + 12 * MS)) == ErrorClass.EXPIRED
    assert (
        kind(ib.receive(InboxKey.CMD, cmd(2, T + 2000 * MS), T + 12 * MS))
        == ErrorClass.FAR_DEADLINE
    )


def test_malformed_payloads_are_dropped_never_raised():
    ib = DriverInbox(SPEC, CommandMode.TORQUE)
    ib.frame_sent(1, T)
    good = cmd(1, T + 20 * MS)
    for payload, cls in [
        (b"", ErrorClass.TRUNCATED),
        (b"XW" + good[2:], ErrorClass.BAD_MAGIC),
        (good[:2] + b"\x01" + good[3:], ErrorClass.UNSUPPORTED_VERSION),
        (good + b"\x00", ErrorClass.TRAILING_BYTES),
        (encode(Status(1, T, "n", Stepping.REAL_TIME, NodeState.RUNNING)), ErrorClass.WRONG_KIND),
    ]:
        assert kind(ib.receive(InboxKey.CMD, payload, T)) == cls
    # An Estop on `cmd`, a command on `estop` or `admin`: the wrong key.
    assert kind(ib.receive(InboxKey.CMD, encode(Estop(1, T, True)), T)) == ErrorClass.WRONG_KIND
    assert kind(ib.receive(InboxKey.ESTOP, good, T)) == ErrorClass.WRONG_KIND
    assert kind(ib.receive(InboxKey.ADMIN, good, T)) == ErrorClass.WRONG_KIND
    assert ib.decide(T) == Decision.NO_COMMAND


def test_lockstep_takes_one_answer_per_frame():
    ib = DriverInbox(SPEC, CommandMode.TORQUE, lockstep=True)
    assert kind(ib.receive(InboxKey.CMD, cmd(0, T + MS), T)) == ErrorClass.EXPIRED  # no frame yet
    ib.frame_sent(1, T)
    assert kind(ib.receive(InboxKey.CMD, cmd(1, T - MS), T)) == ErrorClass.EXPIRED  # made before it
    assert kind(ib.receive(InboxKey.CMD, cmd(1, T + MS), T + 5000 * MS)) == AcceptedKind.COMMAND
    ib.frame_sent(1, T + 2000 * MS)  # a re-send keeps the answer
    assert ib.has_answer()
    assert ib.take_answer().answers_seq == 1 and not ib.has_answer()
    # After the re-send, an answer must be made after the re-sent stamp.
    assert (
        kind(ib.receive(InboxKey.CMD, cmd(1, T + 1999 * MS), T + 2005 * MS)) == ErrorClass.EXPIRED
    )
    assert (
        kind(ib.receive(InboxKey.CMD, cmd(1, T + 2010 * MS, seq=2), T + 2005 * MS))
        == AcceptedKind.COMMAND
    )
    ib.frame_sent(2, T + 2020 * MS)  # the next frame: the old answer is gone
    assert not ib.has_answer()
    assert (
        kind(ib.receive(InboxKey.CMD, cmd(1, T + 2030 * MS), T + 2021 * MS))
        == ErrorClass.UNANSWERED
    )


def test_the_estop_latches_until_a_fresh_release_on_admin():
    ib = DriverInbox(SPEC, CommandMode.TORQUE)
    ib.frame_sent(1, T)
    ib.receive(InboxKey.CMD, cmd(1, T + 30 * MS), T)
    out = ib.receive(InboxKey.ESTOP, encode(Estop(1, T, True, "button")), T)
    assert out.kind == AcceptedKind.ESTOP_ENGAGED and out.reason == "button"
    assert ib.decide(T + MS) == Decision.ESTOPPED
    release = encode(Estop(2, T + MS, False, "ok"))
    assert kind(ib.receive(InboxKey.ESTOP, release, T + MS)) == ErrorClass.UNAUTHORISED
    assert kind(ib.receive(InboxKey.CMD, release, T + MS)) == ErrorClass.WRONG_KIND
    assert ib.estop.engaged
    stale = encode(Estop(3, T - 2000 * MS, False, "old"))
    assert kind(ib.receive(InboxKey.ADMIN, stale, T + MS)) == ErrorClass.STALE
    assert kind(ib.receive(InboxKey.ADMIN, release, T + 2 * MS)) == AcceptedKind.ESTOP_RELEASED
    assert not ib.estop.engaged
    assert kind(ib.receive(InboxKey.ADMIN, release, T + 3 * MS)) == ErrorClass.STALE  # a replay
    # Engaging is honoured on admin too, and however old.
    assert (
        kind(ib.receive(InboxKey.ADMIN, encode(Estop(4, 0, True)), T)) == AcceptedKind.ESTOP_ENGAGED
    )
    assert ib.decide(T + MS) == Decision.ESTOPPED


def test_resets_are_fresh_once_per_key_and_clear_old_answers():
    ib = DriverInbox(SPEC, CommandMode.TORQUE)
    ib.frame_sent(1, T)
    r = encode(Reset(1, T, 77))
    out = ib.receive(InboxKey.CMD, r, T + MS)
    assert out.kind == AcceptedKind.RESET and out.seed == 77
    assert kind(ib.receive(InboxKey.CMD, r, T + MS)) == ErrorClass.STALE  # a replay on cmd
    assert kind(ib.receive(InboxKey.ADMIN, r, T + MS)).name == "RESET"  # admin has its own gate
    assert (
        kind(ib.receive(InboxKey.ADMIN, encode(Reset(2, T + 600 * MS + MS, None)), T))
        == ErrorClass.FUTURE_STAMP
    )
    assert ib.take_reset() == (77,) and ib.take_reset() is None
    ib.new_episode()
    assert kind(ib.receive(InboxKey.CMD, cmd(1, T + 30 * MS), T + MS)) == ErrorClass.UNANSWERED


def test_drop_log_counts_by_class_rate_limits_and_raises_an_alarm():
    lines, clock = [], [0.0]
    d = DropLog(lines.append, monotonic=lambda: clock[0])
    for _ in range(12):
        d.record(ErrorClass.STALE, "stale")
    d.record(ErrorClass.NON_FINITE, "nan")
    assert d.count(ErrorClass.STALE) == 12 and d.total() == 13
    assert len(lines) == 1 and "stale or unauthorised" in lines[0]
    clock[0] = 1.5
    d.record(ErrorClass.NON_FINITE, "nan")
    assert len(lines) == 2 and "malformed" in lines[1] and "12 more not logged" in lines[1]
    assert d.summary() == "14 dropped (non_finite 2, stale 12)"
    values = dict(d.telemetry_values())
    assert values["dropped"] == 14 and values["dropped_stale"] == 12
    assert values["dropped_truncated"] == 0 and "dropped_out_of_range" not in values
    assert d.second_passed() is None
    for second in range(2):
        for _ in range(10):
            d.record(ErrorClass.BAD_MAGIC, "x")
        alarm = d.second_passed()
    assert alarm is not None and alarm.startswith("under attack? 10 invalid messages")
    assert d.second_passed() is None  # a lull clears it
