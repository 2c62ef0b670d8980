"""umwelt-driver: speak the umwelt wire protocol (version 2) from Python.

- :mod:`~umwelt_driver.codec`: encode and decode every message, with every
  check of ``docs/PROTOCOL.md``;
- :mod:`~umwelt_driver.keys`: key expressions and channel names;
- :mod:`~umwelt_driver.fresh` and :mod:`~umwelt_driver.inbox`: the freshness
  rules and a driver's receiving rules (mirrors of the Rust crate's);
- :mod:`~umwelt_driver.driver`: :class:`Driver`, a robot served over zenoh
  from two Python functions (and a third for its cameras);
- :mod:`~umwelt_driver.images`: camera images from numpy arrays.
"""

from .codec import (
    Header,
    decode,
    decode_estop,
    decode_motor_command,
    decode_reset,
    decode_sensor_frame,
    decode_status,
    decode_telemetry,
    encode,
    peek_header,
)
from .driver import Driver, DriverError, DriverSummary
from .errors import DecodeError, EncodeError, ErrorClass, ProtocolError, Refused
from .fresh import now_ns
from .images import ImageError, check_images, image
from .messages import (
    APPLIED_NONE,
    APPLIED_SAFE,
    PROTOCOL_VERSION,
    Applied,
    AppliedKind,
    CommandMode,
    Estop,
    Image,
    ImageEncoding,
    Message,
    MessageKind,
    MotorCommand,
    NodeState,
    Reset,
    SensorFrame,
    Status,
    Stepping,
    Telemetry,
)
from .transport import DEFAULT_ENDPOINT, open_session

__version__ = "0.2.0"

__all__ = [
    "APPLIED_NONE",
    "APPLIED_SAFE",
    "DEFAULT_ENDPOINT",
    "PROTOCOL_VERSION",
    "Applied",
    "AppliedKind",
    "CommandMode",
    "DecodeError",
    "Driver",
    "DriverError",
    "DriverSummary",
    "EncodeError",
    "ErrorClass",
    "Estop",
    "Header",
    "Image",
    "ImageEncoding",
    "ImageError",
    "Message",
    "MessageKind",
    "MotorCommand",
    "NodeState",
    "ProtocolError",
    "Refused",
    "Reset",
    "SensorFrame",
    "Status",
    "Stepping",
    "Telemetry",
    "decode",
    "decode_estop",
    "decode_motor_command",
    "decode_reset",
    "decode_sensor_frame",
    "decode_status",
    "decode_telemetry",
    "check_images",
    "encode",
    "image",
    "now_ns",
    "open_session",
    "peek_header",
]
