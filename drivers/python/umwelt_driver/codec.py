"""Encoding and decoding of every message of protocol version 2
(``docs/PROTOCOL.md``, "Message bodies" and "Receiving: what to check").

Decoding reads the fields in wire order and raises :class:`DecodeError` at
the first problem, naming the field the way the Rust decoder does (e.g.
``SensorFrame.positions[1] is not finite``); nothing is returned from a
message that fails. Encoding checks every limit first and raises
:class:`EncodeError`, so a message that encodes always decodes to an equal
one (floats rounded to ``f32``).

Decoded float arrays are lists of Python floats; encoding accepts lists,
tuples or numpy arrays.
"""

from __future__ import annotations

import math
import struct
from typing import Callable, NamedTuple, Optional, Tuple, TypeVar

import numpy as np

from .errors import DecodeError, EncodeError, ErrorClass
from .messages import (
    HEADER_LEN,
    MAGIC,
    MAX_CHANNELS,
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    MAX_JOINTS,
    MAX_NAME_LEN,
    MAX_TEXT_LEN,
    MAX_VALUES,
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

_HEADER = struct.Struct("<2sBBQQ")
_U8, _U16, _U32, _U64 = (struct.Struct(f) for f in ("<B", "<H", "<I", "<Q"))
_F32, _F64 = struct.Struct("<f"), struct.Struct("<d")
_U64_MAX, _U32_MAX, _U16_MAX = (1 << 64) - 1, (1 << 32) - 1, (1 << 16) - 1

T = TypeVar("T")


class Header(NamedTuple):
    """The checked 20-byte header: which message follows, and its ``seq``
    and ``stamp_ns``."""

    kind: MessageKind
    seq: int
    stamp_ns: int


def _too_large(err, field: str, n: int, limit: int):
    return err(ErrorClass.TOO_LARGE, f"{field}: length {n} exceeds the limit of {limit}", field)


def _non_finite(err, field: str, index: int):
    return err(ErrorClass.NON_FINITE, f"{field}[{index}] is not finite", field)


# ---------------------------------------------------------------- decoding


class _Reader:
    """The unread rest of one message; every read is bounds-checked."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes):
        self.buf = buf
        self.pos = 0

    def _need(self, field: str, n: int) -> int:
        left = len(self.buf) - self.pos
        if n > left:
            raise DecodeError(
                ErrorClass.TRUNCATED,
                f"truncated while reading {field}: needed {n} bytes, {left} left",
                field,
            )
        at = self.pos
        self.pos += n
        return at

    def take(self, field: str, n: int) -> bytes:
        at = self._need(field, n)
        return self.buf[at : at + n]

    def _unpack(self, s: struct.Struct, field: str):
        return s.unpack_from(self.buf, self._need(field, s.size))[0]

    def u8(self, field: str) -> int:
        return self._unpack(_U8, field)

    def u16(self, field: str) -> int:
        return self._unpack(_U16, field)

    def u32(self, field: str) -> int:
        return self._unpack(_U32, field)

    def u64(self, field: str) -> int:
        return self._unpack(_U64, field)

    def enum_u8(self, field: str, enum: Callable[[int], T]) -> T:
        value = self.u8(field)
        try:
            return enum(value)
        except ValueError:
            raise DecodeError(
                ErrorClass.BAD_ENUM, f"{field}: invalid value {value}", field
            ) from None

    def bool(self, field: str) -> bool:
        value = self.u8(field)
        if value > 1:
            raise DecodeError(ErrorClass.BAD_ENUM, f"{field}: invalid value {value}", field)
        return value == 1

    def count16(self, field: str, limit: int) -> int:
        n = self.u16(field)
        if n > limit:
            raise _too_large(DecodeError, field, n, limit)
        return n

    def finite_f32s(self, field: str, n: int) -> list:
        values = struct.unpack_from(f"<{n}f", self.buf, self._need(field, 4 * n))
        for i, v in enumerate(values):
            if not math.isfinite(v):
                raise _non_finite(DecodeError, field, i)
        return list(values)

    def _utf8(self, field: str, n: int) -> str:
        raw = self.take(field, n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(ErrorClass.INVALID_UTF8, f"{field}: invalid UTF-8", field) from None

    def name(self, field: str) -> str:
        return self._utf8(field, self.u8(field))

    def text(self, field: str) -> str:
        n = self.u16(field)
        if n > MAX_TEXT_LEN:
            raise _too_large(DecodeError, field, n, MAX_TEXT_LEN)
        return self._utf8(field, n)

    def header(self) -> Header:
        magic = self.take("header.magic", 2)
        if magic != MAGIC:
            got = ", ".join(f"{b:02x}" for b in magic)
            raise DecodeError(ErrorClass.BAD_MAGIC, f'bad magic [{got}], expected "UW" [55, 57]')
        version = self.u8("header.version")
        if version != PROTOCOL_VERSION:
            raise DecodeError(
                ErrorClass.UNSUPPORTED_VERSION,
                f"unsupported protocol version {version} "
                f"(this build speaks version {PROTOCOL_VERSION})",
            )
        kind = self.u8("header.kind")
        try:
            k = MessageKind(kind)
        except ValueError:
            raise DecodeError(ErrorClass.UNKNOWN_KIND, f"unknown message kind {kind}") from None
        return Header(k, self.u64("header.seq"), self.u64("header.stamp_ns"))

    def finish(self) -> None:
        left = len(self.buf) - self.pos
        if left:
            raise DecodeError(ErrorClass.TRAILING_BYTES, f"{left} trailing bytes after the message")


def _image(r: _Reader) -> Image:
    name = r.name("Image.name")
    width = r.u16("Image.width")
    height = r.u16("Image.height")
    encoding = r.enum_u8("Image.encoding", ImageEncoding)
    n = r.u32("Image.data")
    _check_image_len(DecodeError, n, width, height, encoding)
    return Image(name, width, height, encoding, r.take("Image.data", n))


def _check_image_len(err, n: int, width: int, height: int, encoding: ImageEncoding) -> None:
    if n > MAX_IMAGE_BYTES:
        raise _too_large(err, "Image.data", n, MAX_IMAGE_BYTES)
    expected = width * height * encoding.bytes_per_pixel
    if n != expected:
        raise err(
            ErrorClass.LENGTH_MISMATCH,
            f"Image.data: length {n}, expected {expected}",
            "Image.data",
        )


def _sensor_frame(r: _Reader, h: Header) -> SensorFrame:
    robot = r.name("SensorFrame.robot")
    tag = r.u8("SensorFrame.applied")
    if tag == AppliedKind.COMMAND:
        applied = Applied.command(r.u64("SensorFrame.applied_seq"))
    elif tag == AppliedKind.RESET:
        applied = Applied.reset(r.u64("SensorFrame.applied_seq"))
    elif tag in (AppliedKind.NONE, AppliedKind.SAFE):
        applied = Applied(AppliedKind(tag))
    else:
        raise DecodeError(
            ErrorClass.BAD_ENUM, f"SensorFrame.applied: invalid value {tag}", "SensorFrame.applied"
        )
    n = r.count16("SensorFrame.joints", MAX_JOINTS)
    positions = r.finite_f32s("SensorFrame.positions", n)
    velocities = r.finite_f32s("SensorFrame.velocities", n)
    efforts = r.finite_f32s("SensorFrame.efforts", n)
    channels = []
    for i in range(r.count16("SensorFrame.channels", MAX_CHANNELS)):
        name = r.name("SensorFrame.channels.name")
        v = r._unpack(_F32, "SensorFrame.channels.value")
        if not math.isfinite(v):
            raise _non_finite(DecodeError, "SensorFrame.channels.value", i)
        channels.append((name, v))
    n_images = r.u8("SensorFrame.images")
    if n_images > MAX_IMAGES:
        raise _too_large(DecodeError, "SensorFrame.images", n_images, MAX_IMAGES)
    images = [_image(r) for _ in range(n_images)]
    return SensorFrame(
        h.seq, h.stamp_ns, robot, positions, velocities, efforts, channels, images, applied
    )


def _motor_command(r: _Reader, h: Header) -> MotorCommand:
    answers_seq = r.u64("MotorCommand.answers_seq")
    deadline_ns = r.u64("MotorCommand.deadline_ns")
    mode = r.enum_u8("MotorCommand.mode", CommandMode)
    n = r.count16("MotorCommand.values", MAX_VALUES)
    values = r.finite_f32s("MotorCommand.values", n)
    return MotorCommand(h.seq, h.stamp_ns, answers_seq, deadline_ns, mode, values)


def _status(r: _Reader, h: Header) -> Status:
    node = r.name("Status.node")
    stepping = r.enum_u8("Status.stepping", Stepping)
    state = r.enum_u8("Status.state", NodeState)
    episode = r.u32("Status.episode")
    step = r.u32("Status.step")
    return Status(h.seq, h.stamp_ns, node, stepping, state, episode, step, r.text("Status.message"))


def _telemetry(r: _Reader, h: Header) -> Telemetry:
    values = []
    for i in range(r.count16("Telemetry.values", MAX_VALUES)):
        name = r.name("Telemetry.values.name")
        v = r._unpack(_F64, "Telemetry.values.value")
        if not math.isfinite(v):
            raise _non_finite(DecodeError, "Telemetry.values.value", i)
        values.append((name, v))
    return Telemetry(h.seq, h.stamp_ns, values, r.text("Telemetry.note"))


def _estop(r: _Reader, h: Header) -> Estop:
    engage = r.bool("Estop.engage")
    return Estop(h.seq, h.stamp_ns, engage, r.text("Estop.reason"))


def _reset(r: _Reader, h: Header) -> Reset:
    seed = r.u64("Reset.seed") if r.bool("Reset.has_seed") else None
    return Reset(h.seq, h.stamp_ns, seed)


_BODIES = {
    MessageKind.SENSOR_FRAME: _sensor_frame,
    MessageKind.MOTOR_COMMAND: _motor_command,
    MessageKind.STATUS: _status,
    MessageKind.TELEMETRY: _telemetry,
    MessageKind.ESTOP: _estop,
    MessageKind.RESET: _reset,
}


def _as_bytes(buf) -> bytes:
    if isinstance(buf, bytes):
        return buf
    if isinstance(buf, (bytearray, memoryview)):
        return bytes(buf)
    raise TypeError(f"expected bytes, got {type(buf).__name__}")


def decode(buf, expected: Optional[MessageKind] = None) -> Message:
    """Decodes one message from ``buf`` (bytes-like), checking all of it.

    With ``expected``, a valid message of another kind raises
    :class:`DecodeError` of class ``WRONG_KIND``. Raises only
    :class:`DecodeError` (and ``TypeError`` for a non-bytes argument)."""
    r = _Reader(_as_bytes(buf))
    h = r.header()
    if expected is not None and h.kind != expected:
        raise DecodeError(
            ErrorClass.WRONG_KIND,
            f"expected a {MessageKind(expected).type_name} message, got a {h.kind.type_name}",
        )
    msg = _BODIES[h.kind](r, h)
    r.finish()
    return msg


def peek_header(buf) -> Header:
    """Reads and checks the header only (magic, version, kind): enough to
    route or log a message. Raises :class:`DecodeError`."""
    return _Reader(_as_bytes(buf)).header()


def decode_sensor_frame(buf) -> SensorFrame:
    """Decodes a SensorFrame; another kind raises ``WRONG_KIND``."""
    return decode(buf, MessageKind.SENSOR_FRAME)


def decode_motor_command(buf) -> MotorCommand:
    """Decodes a MotorCommand; another kind raises ``WRONG_KIND``."""
    return decode(buf, MessageKind.MOTOR_COMMAND)


def decode_status(buf) -> Status:
    """Decodes a Status; another kind raises ``WRONG_KIND``."""
    return decode(buf, MessageKind.STATUS)


def decode_telemetry(buf) -> Telemetry:
    """Decodes a Telemetry message; another kind raises ``WRONG_KIND``."""
    return decode(buf, MessageKind.TELEMETRY)


def decode_estop(buf) -> Estop:
    """Decodes an Estop; another kind raises ``WRONG_KIND``."""
    return decode(buf, MessageKind.ESTOP)


def decode_reset(buf) -> Reset:
    """Decodes a Reset; another kind raises ``WRONG_KIND``."""
    return decode(buf, MessageKind.RESET)


# ---------------------------------------------------------------- encoding


def _uint(field: str, v, limit: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v <= limit:
        raise EncodeError(
            ErrorClass.OUT_OF_RANGE, f"{field}: {v!r} is not an integer in 0..={limit}", field
        )
    return int(v)


def _enum(field: str, enum, v):
    try:
        return enum(v)
    except (ValueError, TypeError):
        raise EncodeError(ErrorClass.BAD_ENUM, f"{field}: invalid value {v!r}", field) from None


def _utf8(field: str, s, limit: int) -> bytes:
    if not isinstance(s, str):
        raise EncodeError(ErrorClass.OUT_OF_RANGE, f"{field}: expected a str, got {s!r}", field)
    try:
        raw = s.encode("utf-8")
    except UnicodeEncodeError:
        raise EncodeError(ErrorClass.INVALID_UTF8, f"{field}: invalid UTF-8", field) from None
    if len(raw) > limit:
        raise _too_large(EncodeError, field, len(raw), limit)
    return raw


def _name(field: str, s) -> bytes:
    raw = _utf8(field, s, MAX_NAME_LEN)
    return _U8.pack(len(raw)) + raw


def _text(field: str, s) -> bytes:
    raw = _utf8(field, s, MAX_TEXT_LEN)
    return _U16.pack(len(raw)) + raw


def _f32s(field: str, values) -> np.ndarray:
    """``values`` as a little-endian float32 array, every one finite after
    rounding (a finite float64 beyond the f32 range is refused too)."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            a = np.asarray(values, dtype="<f4")
    except (ValueError, TypeError) as e:
        raise EncodeError(ErrorClass.OUT_OF_RANGE, f"{field}: not numbers ({e})", field) from None
    if a.ndim != 1:
        raise EncodeError(ErrorClass.OUT_OF_RANGE, f"{field}: expected a 1-D array", field)
    bad = ~np.isfinite(a)
    if bad.any():
        raise _non_finite(EncodeError, field, int(np.argmax(bad)))
    return a


def _count(field: str, n: int, limit: int) -> None:
    if n > limit:
        raise _too_large(EncodeError, field, n, limit)


def _pairs(field: str, pairs) -> Tuple[list, list]:
    try:
        names, values = zip(*pairs) if len(pairs) else ((), ())
    except (TypeError, ValueError):
        raise EncodeError(
            ErrorClass.OUT_OF_RANGE, f"{field}: expected (name, value) pairs", field
        ) from None
    return list(names), list(values)


def _body_sensor_frame(f: SensorFrame) -> bytes:
    out = [_name("SensorFrame.robot", f.robot)]
    a = f.applied
    kind = _enum("SensorFrame.applied", AppliedKind, a.kind)
    out.append(_U8.pack(kind))
    if kind in (AppliedKind.COMMAND, AppliedKind.RESET):
        out.append(_U64.pack(_uint("SensorFrame.applied_seq", a.seq, _U64_MAX)))
    n = len(f.positions)
    _count("SensorFrame.joints", n, MAX_JOINTS)
    for field, v in (("SensorFrame.velocities", f.velocities), ("SensorFrame.efforts", f.efforts)):
        if len(v) != n:
            raise EncodeError(
                ErrorClass.LENGTH_MISMATCH, f"{field}: length {len(v)}, expected {n}", field
            )
    out.append(_U16.pack(n))
    for field, v in (
        ("SensorFrame.positions", f.positions),
        ("SensorFrame.velocities", f.velocities),
        ("SensorFrame.efforts", f.efforts),
    ):
        out.append(_f32s(field, v).tobytes())
    _count("SensorFrame.channels", len(f.channels), MAX_CHANNELS)
    names, values = _pairs("SensorFrame.channels", f.channels)
    values = _f32s("SensorFrame.channels.value", values)
    out.append(_U16.pack(len(names)))
    for name, v in zip(names, values):
        out.append(_name("SensorFrame.channels.name", name))
        out.append(v.tobytes())
    _count("SensorFrame.images", len(f.images), MAX_IMAGES)
    out.append(_U8.pack(len(f.images)))
    for im in f.images:
        out.append(_name("Image.name", im.name))
        width = _uint("Image.width", im.width, _U16_MAX)
        height = _uint("Image.height", im.height, _U16_MAX)
        enc = _enum("Image.encoding", ImageEncoding, im.encoding)
        data = bytes(im.data)
        _check_image_len(EncodeError, len(data), width, height, enc)
        out.append(struct.pack("<HHBI", width, height, enc, len(data)))
        out.append(data)
    return b"".join(out)


def _body_motor_command(c: MotorCommand) -> bytes:
    answers = _uint("MotorCommand.answers_seq", c.answers_seq, _U64_MAX)
    deadline = _uint("MotorCommand.deadline_ns", c.deadline_ns, _U64_MAX)
    mode = _enum("MotorCommand.mode", CommandMode, c.mode)
    _count("MotorCommand.values", len(c.values), MAX_VALUES)
    values = _f32s("MotorCommand.values", c.values)
    return struct.pack("<QQBH", answers, deadline, mode, len(values)) + values.tobytes()


def _body_status(s: Status) -> bytes:
    return b"".join(
        (
            _name("Status.node", s.node),
            _U8.pack(_enum("Status.stepping", Stepping, s.stepping)),
            _U8.pack(_enum("Status.state", NodeState, s.state)),
            _U32.pack(_uint("Status.episode", s.episode, _U32_MAX)),
            _U32.pack(_uint("Status.step", s.step, _U32_MAX)),
            _text("Status.message", s.message),
        )
    )


def _body_telemetry(t: Telemetry) -> bytes:
    _count("Telemetry.values", len(t.values), MAX_VALUES)
    names, values = _pairs("Telemetry.values", t.values)
    out = [_U16.pack(len(names))]
    for i, (name, v) in enumerate(zip(names, values)):
        out.append(_name("Telemetry.values.name", name))
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise EncodeError(
                ErrorClass.OUT_OF_RANGE,
                f"Telemetry.values.value[{i}]: not a number",
                "Telemetry.values.value",
            ) from None
        if not math.isfinite(v):
            raise _non_finite(EncodeError, "Telemetry.values.value", i)
        out.append(_F64.pack(v))
    out.append(_text("Telemetry.note", t.note))
    return b"".join(out)


def _body_estop(e: Estop) -> bytes:
    if not isinstance(e.engage, (bool, np.bool_)):
        raise EncodeError(
            ErrorClass.BAD_ENUM, f"Estop.engage: invalid value {e.engage!r}", "Estop.engage"
        )
    return _U8.pack(int(bool(e.engage))) + _text("Estop.reason", e.reason)


def _body_reset(r: Reset) -> bytes:
    if r.seed is None:
        return b"\x00"
    return b"\x01" + _U64.pack(_uint("Reset.seed", r.seed, _U64_MAX))


_ENCODERS = {
    SensorFrame: (MessageKind.SENSOR_FRAME, _body_sensor_frame),
    MotorCommand: (MessageKind.MOTOR_COMMAND, _body_motor_command),
    Status: (MessageKind.STATUS, _body_status),
    Telemetry: (MessageKind.TELEMETRY, _body_telemetry),
    Estop: (MessageKind.ESTOP, _body_estop),
    Reset: (MessageKind.RESET, _body_reset),
}


def encode(msg: Message) -> bytes:
    """The wire bytes of ``msg``: header then body, little-endian, no padding.

    Raises :class:`EncodeError` if the message breaks a rule of the protocol
    (a limit, a non-finite float, a string that is not UTF-8, an integer
    out of its field's range); ``TypeError`` if it is not a message."""
    try:
        kind, body = _ENCODERS[type(msg)]
    except KeyError:
        raise TypeError(f"not an umwelt message: {type(msg).__name__}") from None
    seq = _uint(f"{kind.type_name}.seq", msg.seq, _U64_MAX)
    stamp = _uint(f"{kind.type_name}.stamp_ns", msg.stamp_ns, _U64_MAX)
    return _HEADER.pack(MAGIC, PROTOCOL_VERSION, kind, seq, stamp) + body(msg)


__all__ = [
    "HEADER_LEN",
    "Header",
    "decode",
    "decode_estop",
    "decode_motor_command",
    "decode_reset",
    "decode_sensor_frame",
    "decode_status",
    "decode_telemetry",
    "encode",
    "peek_header",
]
