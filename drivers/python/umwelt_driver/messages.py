"""The messages of umwelt wire protocol version 2, as plain dataclasses.

Every message carries the sender's sequence number ``seq`` and its clock
``stamp_ns`` (ns since the UNIX epoch). Float arrays are Python lists of
floats after decoding (each an exact ``f32`` value); on encoding any
sequence or numpy array of numbers is accepted and converted to ``float32``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple, Union

#: The protocol version this package writes and the only one it reads.
PROTOCOL_VERSION = 2
#: The two bytes every message starts with.
MAGIC = b"UW"
#: Length of the common header (magic, version, kind, seq, stamp_ns).
HEADER_LEN = 20
#: Longest name (robot, channel, image, metric, node), UTF-8 bytes.
MAX_NAME_LEN = 255
#: Longest free text (status message, note, estop reason), UTF-8 bytes.
MAX_TEXT_LEN = 4096
#: Most joints in a frame.
MAX_JOINTS = 1024
#: Most named channels in a frame.
MAX_CHANNELS = 1024
#: Most values in a command, and metrics in a telemetry message.
MAX_VALUES = 1024
#: Most images in a frame.
MAX_IMAGES = 32
#: Largest image payload (64 MiB).
MAX_IMAGE_BYTES = 64 << 20


class MessageKind(enum.IntEnum):
    """The header's ``kind`` byte."""

    SENSOR_FRAME = 1
    MOTOR_COMMAND = 2
    STATUS = 3
    TELEMETRY = 4
    ESTOP = 5
    RESET = 6

    @property
    def type_name(self) -> str:
        """The message type's name as errors print it, e.g. ``SensorFrame``."""
        return _TYPE_NAMES[self]


_TYPE_NAMES = {
    MessageKind.SENSOR_FRAME: "SensorFrame",
    MessageKind.MOTOR_COMMAND: "MotorCommand",
    MessageKind.STATUS: "Status",
    MessageKind.TELEMETRY: "Telemetry",
    MessageKind.ESTOP: "Estop",
    MessageKind.RESET: "Reset",
}


class ImageEncoding(enum.IntEnum):
    """How an image's pixels are stored, row by row from the top left."""

    DEPTH_F32 = 0
    RGB8 = 1
    MONO8 = 2

    @property
    def bytes_per_pixel(self) -> int:
        """4 for depth, 3 for RGB, 1 for grey."""
        return (4, 3, 1)[self]


class CommandMode(enum.IntEnum):
    """What a MotorCommand's values are: torques, velocities or positions."""

    TORQUE = 0
    VELOCITY = 1
    POSITION = 2


class Stepping(enum.IntEnum):
    """How a node steps, as its Status says."""

    REAL_TIME = 0
    LOCKSTEP = 1


class NodeState(enum.IntEnum):
    """A node's lifecycle state, as its Status says."""

    STARTING = 0
    RUNNING = 1
    SAFE_HOLD = 2
    ESTOPPED = 3
    EPISODE_RESET = 4
    STOPPING = 5


class AppliedKind(enum.IntEnum):
    """The ``applied`` tag of a SensorFrame."""

    NONE = 0
    COMMAND = 1
    SAFE = 2
    RESET = 3


@dataclass(frozen=True)
class Applied:
    """What the driver applied for the step that led to a frame: nothing
    said (``NONE``: the first frame of an episode the driver began), the
    command with ``seq`` (``COMMAND``), the safe action (``SAFE``), or the
    first frame of the episode the Reset with ``seq`` asked for (``RESET``).
    ``seq`` is 0 unless ``kind`` is ``COMMAND`` or ``RESET``. Use
    :meth:`command`, :meth:`reset`, :data:`APPLIED_NONE`,
    :data:`APPLIED_SAFE`."""

    kind: AppliedKind = AppliedKind.NONE
    seq: int = 0

    @staticmethod
    def command(seq: int) -> "Applied":
        """The MotorCommand with this ``seq`` was in force for the whole step."""
        return Applied(AppliedKind.COMMAND, seq)

    @staticmethod
    def reset(seq: int) -> "Applied":
        """The first frame of the episode the Reset with this ``seq`` asked for."""
        return Applied(AppliedKind.RESET, seq)

    @property
    def command_seq(self) -> Optional[int]:
        """The command's seq if ``kind`` is ``COMMAND``, else ``None``."""
        return self.seq if self.kind == AppliedKind.COMMAND else None


#: No step led to this frame (first of an episode), or the driver does not say.
APPLIED_NONE = Applied(AppliedKind.NONE)
#: The safe action was applied for (part of) the step.
APPLIED_SAFE = Applied(AppliedKind.SAFE)

FloatSeq = Sequence[float]  # a list, tuple or 1-D numpy array


@dataclass
class Image:
    """A camera or depth image: exactly ``width * height *
    encoding.bytes_per_pixel`` bytes of ``data``."""

    name: str
    width: int
    height: int
    encoding: ImageEncoding
    data: bytes


@dataclass
class SensorFrame:
    """One sample of a robot's state, published by its driver."""

    seq: int
    stamp_ns: int
    robot: str
    positions: FloatSeq = field(default_factory=list)
    velocities: FloatSeq = field(default_factory=list)
    efforts: FloatSeq = field(default_factory=list)
    channels: List[Tuple[str, float]] = field(default_factory=list)
    images: List[Image] = field(default_factory=list)
    applied: Applied = APPLIED_NONE

    def channel(self, name: str) -> Optional[float]:
        """The value of the first channel called ``name`` (readers use the
        first of duplicates), or ``None``."""
        for n, v in self.channels:
            if n == name:
                return v
        return None


@dataclass
class MotorCommand:
    """Actuator targets answering frame ``answers_seq``, not to be applied
    after ``deadline_ns``."""

    seq: int
    stamp_ns: int
    answers_seq: int
    deadline_ns: int
    mode: CommandMode
    values: FloatSeq = field(default_factory=list)


@dataclass
class Status:
    """A node's lifecycle state; ``node`` names the sender, ``stepping`` says
    how it steps."""

    seq: int
    stamp_ns: int
    node: str
    stepping: Stepping
    state: NodeState
    episode: int = 0
    step: int = 0
    message: str = ""


@dataclass
class Telemetry:
    """Named ``f64`` metrics and a note for humans."""

    seq: int
    stamp_ns: int
    values: List[Tuple[str, float]] = field(default_factory=list)
    note: str = ""


@dataclass
class Estop:
    """``engage=True`` engages the emergency stop, ``False`` releases it."""

    seq: int
    stamp_ns: int
    engage: bool
    reason: str = ""


@dataclass
class Reset:
    """Start a new episode with ``seed`` (``None``: the receiver chooses)."""

    seq: int
    stamp_ns: int
    seed: Optional[int] = None


Message = Union[SensorFrame, MotorCommand, Status, Telemetry, Estop, Reset]

#: The kind of each message class.
KIND_OF = {
    SensorFrame: MessageKind.SENSOR_FRAME,
    MotorCommand: MessageKind.MOTOR_COMMAND,
    Status: MessageKind.STATUS,
    Telemetry: MessageKind.TELEMETRY,
    Estop: MessageKind.ESTOP,
    Reset: MessageKind.RESET,
}
