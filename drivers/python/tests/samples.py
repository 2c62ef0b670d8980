"""One small but complete message of every kind (the Rust crate's
``samples()``), for round trips and rejection tests."""

import struct

from umwelt_driver import (
    APPLIED_NONE,
    APPLIED_SAFE,
    Applied,
    CommandMode,
    Estop,
    Image,
    ImageEncoding,
    MotorCommand,
    NodeState,
    Reset,
    SensorFrame,
    Status,
    Stepping,
    Telemetry,
)

U64_MAX = (1 << 64) - 1


def frame() -> SensorFrame:
    return SensorFrame(
        seq=42,
        stamp_ns=1_700_000_000_000_000_000,
        robot="arm2",
        applied=Applied.command(41),
        positions=[0.5, -1.0],
        velocities=[0.0, 0.25],
        efforts=[1.5, -0.0],
        channels=[("to_target_x", 0.125), ("grip", 1.0)],
        images=[
            Image("cam", 2, 1, ImageEncoding.RGB8, bytes([1, 2, 3, 4, 5, 6])),
            Image("depth", 1, 1, ImageEncoding.DEPTH_F32, struct.pack("<f", 0.75)),
        ],
    )


def samples():
    return [
        frame(),
        MotorCommand(
            7,
            1_700_000_000_002_000_000,
            42,
            1_700_000_000_022_000_000,
            CommandMode.VELOCITY,
            [0.5, -0.25, 3.0],
        ),
        Status(3, 5, "sim", Stepping.LOCKSTEP, NodeState.SAFE_HOLD, 2, 100, "stale frame (42 ms)"),
        Telemetry(9, 11, [("plan_ms", 1.25), ("cost", -3e40)], "ok"),
        Estop(1, 2, True, "button"),
        Reset(4, 8, U64_MAX),
        Reset(5, 9, None),
        SensorFrame(43, 1_700_000_000_010_000_000, "arm2", applied=APPLIED_SAFE),
        SensorFrame(0, 1_700_000_000_020_000_000, "arm2", applied=APPLIED_NONE),
        SensorFrame(44, 1_700_000_000_015_000_000, "arm2", applied=Applied.reset(5)),
    ]


def sample(cls):
    """The first sample of class ``cls``."""
    return next(m for m in samples() if isinstance(m, cls))
