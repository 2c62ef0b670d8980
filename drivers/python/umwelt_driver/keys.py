"""Where messages travel: zenoh key expressions ``umwelt/<robot>/<topic>``
(``docs/PROTOCOL.md``, "Where messages travel"), and the names of the
channels drivers add to their frames."""

from __future__ import annotations

from .messages import MAX_NAME_LEN, MessageKind

#: SensorFrames, driver -> controller and recorders.
SENSORS = "sensors"
#: MotorCommands and the controller's Resets, controller -> driver.
CMD = "cmd"
#: Status, every node -> anyone.
STATUS = "status"
#: Telemetry, every node -> monitors.
TELEMETRY = "telemetry"
#: Estop engages, anyone -> every node.
ESTOP = "estop"
#: Estop releases and operators' Resets: the privileged key.
ADMIN = "admin"

#: The task's reward for the step that led to a frame.
REWARD = "reward"
#: 1 while the task's success condition holds, else 0.
SUCCESS = "success"
#: The episode's index (0, 1, ...).
EPISODE = "episode"

_TOPIC_OF_KIND = {
    MessageKind.SENSOR_FRAME: SENSORS,
    MessageKind.MOTOR_COMMAND: CMD,
    MessageKind.RESET: CMD,
    MessageKind.STATUS: STATUS,
    MessageKind.TELEMETRY: TELEMETRY,
    MessageKind.ESTOP: ESTOP,
}

# Characters with a meaning in zenoh key expressions: a robot name with one
# of them would address other keys than its own.
_FORBIDDEN = set("/*$?#")


def check_robot(robot: str) -> str:
    """``robot`` if it can be one chunk of a key expression and a wire name
    (non-empty, at most 255 UTF-8 bytes, none of ``/ * $ ? #``); else
    ``ValueError``."""
    if not isinstance(robot, str) or not robot:
        raise ValueError("robot name: must be a non-empty string")
    if len(robot.encode("utf-8", "surrogatepass")) > MAX_NAME_LEN:
        raise ValueError(f"robot name {robot!r}: longer than {MAX_NAME_LEN} bytes")
    bad = _FORBIDDEN.intersection(robot)
    if bad:
        raise ValueError(f"robot name {robot!r}: may not contain {''.join(sorted(bad))}")
    return robot


def key(robot: str, topic: str) -> str:
    """``umwelt/<robot>/<topic>``; ``robot`` is checked with :func:`check_robot`."""
    return f"umwelt/{check_robot(robot)}/{topic}"


def key_for_kind(robot: str, kind: MessageKind) -> str:
    """The key on which messages of ``kind`` are published (a Reset goes on
    ``cmd``, with the commands; an operator's Reset or an estop release goes
    on :func:`key` ``(robot, ADMIN)`` instead)."""
    return key(robot, _TOPIC_OF_KIND[MessageKind(kind)])
