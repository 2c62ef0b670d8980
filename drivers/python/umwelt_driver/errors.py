"""Why a message was refused: the error classes and the exceptions that carry them.

The classes are the Rust ``umwelt_protocol::ErrorClass`` names, so that drop
counts read the same in Python and Rust telemetry (``dropped_<class>``).
"""

from __future__ import annotations

import enum


class ErrorClass(enum.Enum):
    """Why a message was dropped; ``value`` is the snake_case name used in
    telemetry (``dropped_<value>``) and logs. Declaration order is Rust's."""

    TRUNCATED = "truncated"
    BAD_MAGIC = "bad_magic"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_KIND = "unknown_kind"
    WRONG_KIND = "wrong_kind"
    BAD_ENUM = "bad_enum"
    LENGTH_MISMATCH = "length_mismatch"
    TOO_LARGE = "too_large"
    INVALID_UTF8 = "invalid_utf8"
    NON_FINITE = "non_finite"
    TRAILING_BYTES = "trailing_bytes"
    SPEC = "spec"
    EXPIRED = "expired"
    FAR_DEADLINE = "far_deadline"
    UNANSWERED = "unanswered"
    STALE = "stale"
    FUTURE_STAMP = "future_stamp"
    UNAUTHORISED = "unauthorised"
    # Python only: a value that cannot be encoded at all (an integer outside
    # its field's range, a wrong type). Never produced by decoding.
    OUT_OF_RANGE = "out_of_range"

    @property
    def is_freshness(self) -> bool:
        """Whether the message was well formed but not current or not
        authorised (rather than malformed)."""
        return self in _FRESHNESS


_FRESHNESS = frozenset(
    {
        ErrorClass.EXPIRED,
        ErrorClass.FAR_DEADLINE,
        ErrorClass.UNANSWERED,
        ErrorClass.STALE,
        ErrorClass.FUTURE_STAMP,
        ErrorClass.UNAUTHORISED,
    }
)

#: The classes a receiver counts, in Rust's order (telemetry lists them all).
DROP_CLASSES = tuple(c for c in ErrorClass if c is not ErrorClass.OUT_OF_RANGE)


class ProtocolError(ValueError):
    """A message that is not valid protocol version 2.

    ``cls`` is its :class:`ErrorClass`, ``field`` the field being read or
    checked as ``Type.field`` (e.g. ``"SensorFrame.positions"``) or ``None``
    for header-level problems. ``str(err)`` is one line, worded as the Rust
    ``DecodeError``'s.
    """

    def __init__(self, cls: ErrorClass, message: str, field: str | None = None):
        super().__init__(message)
        self.cls = cls
        self.field = field


class DecodeError(ProtocolError):
    """Bytes that do not decode: raised by every ``decode*`` function at the
    first problem, before any part of the message is returned."""


class EncodeError(ProtocolError):
    """A message that may not be sent (a limit exceeded, a non-finite float,
    an integer out of range): raised by ``encode`` before any byte is made."""


class Refused(Exception):
    """A valid message that a freshness or authority rule refuses (``cls`` is
    one of the freshness classes), or that does not fit the robot
    (:attr:`ErrorClass.SPEC`)."""

    def __init__(self, cls: ErrorClass, message: str = ""):
        super().__init__(message or cls.value)
        self.cls = cls
