"""The codec: round trips of every kind, and every rejection class of
docs/PROTOCOL.md "Receiving: what to check", with the field named."""

import math
import random
import struct

import numpy as np
import pytest

from samples import U64_MAX, frame, sample, samples
from umwelt_driver import (
    CommandMode,
    DecodeError,
    EncodeError,
    ErrorClass,
    Estop,
    MessageKind,
    MotorCommand,
    Reset,
    SensorFrame,
    Status,
    Telemetry,
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
from umwelt_driver.messages import HEADER_LEN, MAX_IMAGES, MAX_JOINTS, MAX_NAME_LEN, MAX_TEXT_LEN

TYPED = {
    MessageKind.SENSOR_FRAME: decode_sensor_frame,
    MessageKind.MOTOR_COMMAND: decode_motor_command,
    MessageKind.STATUS: decode_status,
    MessageKind.TELEMETRY: decode_telemetry,
    MessageKind.ESTOP: decode_estop,
    MessageKind.RESET: decode_reset,
}


def refused(buf, cls, field=None, message=None):
    with pytest.raises(DecodeError) as e:
        decode(buf)
    assert e.value.cls == cls, str(e.value)
    if field is not None:
        assert e.value.field == field, str(e.value)
    if message is not None:
        assert str(e.value) == message
    return e.value


def patch(buf: bytes, needle: bytes, new: bytes) -> bytes:
    assert buf.count(needle) == 1, needle
    return buf.replace(needle, new)


def test_every_kind_round_trips():
    for m in samples():
        assert decode(encode(m)) == m
        kind = peek_header(encode(m)).kind
        assert TYPED[kind](encode(m)) == m


def test_numpy_arrays_encode_like_lists():
    f = frame()
    g = frame()
    g.positions = np.array(f.positions, dtype=np.float64)
    g.velocities = np.array(f.velocities, dtype=np.float32)
    g.efforts = tuple(f.efforts)
    assert encode(g) == encode(f)
    assert isinstance(decode(encode(g)).positions, list)


def test_typed_decoders_refuse_other_kinds():
    for m in samples():
        buf = encode(m)
        own = peek_header(buf).kind
        for kind, dec in TYPED.items():
            if kind == own:
                continue
            with pytest.raises(DecodeError) as e:
                dec(buf)
            assert e.value.cls == ErrorClass.WRONG_KIND
            assert str(e.value) == f"expected a {kind.type_name} message, got a {own.type_name}"


def test_every_cut_is_truncated():
    for m in samples():
        buf = encode(m)
        for cut in range(len(buf)):
            refused(buf[:cut], ErrorClass.TRUNCATED)
    e = refused(encode(frame())[: HEADER_LEN + 3], ErrorClass.TRUNCATED, "SensorFrame.robot")
    assert str(e) == "truncated while reading SensorFrame.robot: needed 4 bytes, 2 left"


def test_bad_magic_unknown_kind_and_trailing_bytes():
    buf = encode(sample(Estop))
    refused(
        b"XW" + buf[2:], ErrorClass.BAD_MAGIC, message='bad magic [58, 57], expected "UW" [55, 57]'
    )
    for kind in (0, 7, 255):
        refused(
            buf[:3] + bytes([kind]) + buf[4:],
            ErrorClass.UNKNOWN_KIND,
            message=f"unknown message kind {kind}",
        )
    for m in samples():
        for extra in (1, 5):
            e = refused(encode(m) + bytes(extra), ErrorClass.TRAILING_BYTES)
            assert str(e) == f"{extra} trailing bytes after the message"


def test_version_1_is_refused_by_name():
    for version in (1, 0, 3):
        buf = bytearray(encode(frame()))
        buf[2] = version
        refused(
            bytes(buf),
            ErrorClass.UNSUPPORTED_VERSION,
            message=f"unsupported protocol version {version} (this build speaks version 2)",
        )


@pytest.mark.parametrize(
    "cls,offset,value,field",
    [
        (MotorCommand, HEADER_LEN + 16, 3, "MotorCommand.mode"),
        (SensorFrame, HEADER_LEN + 5, 4, "SensorFrame.applied"),  # after "arm2"
        (Status, HEADER_LEN + 4, 2, "Status.stepping"),  # after "sim"
        (Status, HEADER_LEN + 5, 6, "Status.state"),
        (Estop, HEADER_LEN, 2, "Estop.engage"),
        (Estop, HEADER_LEN, 255, "Estop.engage"),
        (Reset, HEADER_LEN, 2, "Reset.has_seed"),
    ],
)
def test_bad_enum_values(cls, offset, value, field):
    buf = bytearray(encode(sample(cls)))
    buf[offset] = value
    refused(bytes(buf), ErrorClass.BAD_ENUM, field, f"{field}: invalid value {value}")


def test_bad_image_encoding():
    buf = patch(encode(frame()), b"cam\x02\x00\x01\x00\x01", b"cam\x02\x00\x01\x00\x03")
    refused(buf, ErrorClass.BAD_ENUM, "Image.encoding")


def test_image_length_must_match_its_size():
    f = frame()
    f.images[0].data = f.images[0].data[:5]
    with pytest.raises(EncodeError) as e:
        encode(f)
    assert e.value.cls == ErrorClass.LENGTH_MISMATCH
    # Width 2 -> 3 with the same 6 bytes of RGB.
    buf = patch(encode(frame()), b"\x03cam\x02\x00", b"\x03cam\x03\x00")
    refused(buf, ErrorClass.LENGTH_MISMATCH, "Image.data", "Image.data: length 6, expected 9")


def test_depth_pixels_may_be_non_finite():
    f = frame()
    f.images[1].data = struct.pack("<f", math.inf)
    assert decode(encode(f)) == f


def test_counts_over_the_limits():
    hdr = HEADER_LEN
    # joints: the u16 after robot (1 + 4) and applied (1 + 8).
    buf = bytearray(encode(frame()))
    struct.pack_into("<H", buf, hdr + 14, MAX_JOINTS + 1)
    refused(
        bytes(buf),
        ErrorClass.TOO_LARGE,
        "SensorFrame.joints",
        "SensorFrame.joints: length 1025 exceeds the limit of 1024",
    )
    # channels: after the 3 x 2 floats.
    buf = bytearray(encode(frame()))
    struct.pack_into("<H", buf, hdr + 16 + 24, 1025)
    refused(bytes(buf), ErrorClass.TOO_LARGE, "SensorFrame.channels")
    # images: a u8 count.
    buf = patch(encode(frame()), b"\x00\x00\x80\x3f\x02\x03cam", b"\x00\x00\x80\x3f\x21\x03cam")
    refused(buf, ErrorClass.TOO_LARGE, "SensorFrame.images")
    # values of a command.
    buf = bytearray(encode(sample(MotorCommand)))
    struct.pack_into("<H", buf, hdr + 17, 1025)
    refused(bytes(buf), ErrorClass.TOO_LARGE, "MotorCommand.values")
    # telemetry values, and a text over 4096 bytes.
    buf = bytearray(encode(sample(Telemetry)))
    struct.pack_into("<H", buf, hdr, 1025)
    refused(bytes(buf), ErrorClass.TOO_LARGE, "Telemetry.values")
    buf = bytearray(encode(sample(Estop)))
    struct.pack_into("<H", buf, hdr + 1, MAX_TEXT_LEN + 1)
    refused(bytes(buf), ErrorClass.TOO_LARGE, "Estop.reason")
    # An image over 64 MiB is refused before its bytes are read.
    huge = struct.pack("<I", (64 << 20) + 1)
    buf = patch(encode(frame()), b"\x01\x06\x00\x00\x00", b"\x01" + huge)
    refused(
        buf,
        ErrorClass.TOO_LARGE,
        "Image.data",
        "Image.data: length 67108865 exceeds the limit of 67108864",
    )


def test_limits_are_inclusive():
    f = frame()
    f.robot = "r" * MAX_NAME_LEN
    f.positions = f.velocities = f.efforts = [1.0] * MAX_JOINTS
    f.images = [f.images[0]] * MAX_IMAGES
    t = Telemetry(1, 2, [], "n" * MAX_TEXT_LEN)
    for m in (f, t):
        assert decode(encode(m)) == m


@pytest.mark.parametrize(
    "cls,needle,field",
    [
        (SensorFrame, b"arm2", "SensorFrame.robot"),
        (SensorFrame, b"grip", "SensorFrame.channels.name"),
        (SensorFrame, b"depth", "Image.name"),
        (Status, b"sim", "Status.node"),
        (Status, b"stale", "Status.message"),
        (Telemetry, b"plan_ms", "Telemetry.values.name"),
        (Telemetry, b"\x02\x00ok", "Telemetry.note"),
        (Estop, b"button", "Estop.reason"),
    ],
)
def test_invalid_utf8_in_every_string(cls, needle, field):
    bad = needle[:-1] + b"\xc3"  # a lead byte with no continuation
    refused(
        patch(encode(sample(cls)), needle, bad),
        ErrorClass.INVALID_UTF8,
        field,
        f"{field}: invalid UTF-8",
    )


@pytest.mark.parametrize(
    "cls,field,poke",
    [
        (SensorFrame, "SensorFrame.positions", lambda m, x: m.positions.__setitem__(1, x)),
        (SensorFrame, "SensorFrame.velocities", lambda m, x: m.velocities.__setitem__(1, x)),
        (SensorFrame, "SensorFrame.efforts", lambda m, x: m.efforts.__setitem__(1, x)),
        (
            SensorFrame,
            "SensorFrame.channels.value",
            lambda m, x: m.channels.__setitem__(1, ("grip", x)),
        ),
        (MotorCommand, "MotorCommand.values", lambda m, x: m.values.__setitem__(1, x)),
        (Telemetry, "Telemetry.values.value", lambda m, x: m.values.__setitem__(1, ("cost", x))),
    ],
)
def test_non_finite_in_every_float_field(cls, field, poke):
    for x in (math.nan, -math.nan, math.inf, -math.inf):
        m = sample(cls)
        poke(m, x)
        with pytest.raises(EncodeError) as e:
            encode(m)
        assert str(e.value) == f"{field}[1] is not finite"
        # The same bytes made by hand: the decoder refuses them too.
        m_ok = sample(cls)
        poke(m_ok, 123.0)
        good = encode(m_ok)
        fmt = "<d" if cls is Telemetry else "<f"
        buf = good.replace(struct.pack(fmt, 123.0), struct.pack(fmt, x))
        assert buf != good
        refused(buf, ErrorClass.NON_FINITE, field, f"{field}[1] is not finite")


def test_encode_refuses_what_cannot_be_sent():
    cases = [
        (MotorCommand(-1, 0, 0, 0, CommandMode.TORQUE, []), ErrorClass.OUT_OF_RANGE),
        (MotorCommand(U64_MAX + 1, 0, 0, 0, CommandMode.TORQUE, []), ErrorClass.OUT_OF_RANGE),
        (MotorCommand(1, 0, 0, 0, 7, []), ErrorClass.BAD_ENUM),
        (MotorCommand(1, 0, 0, 0, CommandMode.TORQUE, [1e39]), ErrorClass.NON_FINITE),
        (MotorCommand(1, 0, 0, 0, CommandMode.TORQUE, [0.0] * 1025), ErrorClass.TOO_LARGE),
        (SensorFrame(1, 0, "r" * 256), ErrorClass.TOO_LARGE),
        (SensorFrame(1, 0, "\ud800"), ErrorClass.INVALID_UTF8),
        (SensorFrame(1, 0, "r", [1.0], [1.0, 2.0], [1.0]), ErrorClass.LENGTH_MISMATCH),
        (Estop(1, 0, True, "x" * 4097), ErrorClass.TOO_LARGE),
        (Estop(1, 0, 2, ""), ErrorClass.BAD_ENUM),
        (Reset(1, 0, -5), ErrorClass.OUT_OF_RANGE),
        (Status(1, 0, "n", 0, 0, 1 << 32), ErrorClass.OUT_OF_RANGE),
    ]
    for m, cls in cases:
        with pytest.raises(EncodeError) as e:
            encode(m)
        assert e.value.cls == cls, (m, str(e.value))
    with pytest.raises(TypeError):
        encode("not a message")


def test_mutated_messages_never_raise_anything_but_decode_error():
    """Seeded fuzzing: flipped, inserted and deleted bytes either decode to
    a message that encodes back to the same bytes, or raise DecodeError."""
    rng = random.Random(24)
    seeds = [encode(m) for m in samples()]
    decoded = 0
    for _ in range(20_000):
        buf = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            op, at = rng.randrange(3), rng.randrange(len(buf) + 1)
            if op == 0 and at < len(buf):
                buf[at] = rng.randrange(256)
            elif op == 1:
                buf.insert(at, rng.randrange(256))
            elif at < len(buf):
                del buf[at]
        try:
            m = decode(bytes(buf))
        except DecodeError as e:
            assert isinstance(e.cls, ErrorClass)
            continue
        decoded += 1
        assert encode(m) == bytes(buf)
    assert decoded > 0
