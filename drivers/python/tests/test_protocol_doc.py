"""The worked examples of docs/PROTOCOL.md, parsed from the document itself:
the annotated dumps and the one-line hex strings decode to the messages they
describe, and those messages encode to exactly the same bytes."""

import re

import pytest

from umwelt_driver import (
    Applied,
    CommandMode,
    DecodeError,
    ErrorClass,
    Image,
    ImageEncoding,
    MotorCommand,
    SensorFrame,
    decode,
    encode,
)

EXPECTED = {
    "sensor_frame": SensorFrame(
        seq=42,
        stamp_ns=1_700_000_000_000_000_000,
        robot="arm2",
        applied=Applied.command(6),
        positions=[0.5, -1.0],
        velocities=[0.0, 0.25],
        efforts=[1.5, 0.0],
        channels=[("to_target_x", 0.125)],
        images=[Image("cam", 2, 1, ImageEncoding.MONO8, b"\x10\xff")],
    ),
    "motor_command": MotorCommand(
        7,
        1_700_000_000_002_000_000,
        42,
        1_700_000_000_022_000_000,
        CommandMode.TORQUE,
        [0.5, -0.25],
    ),
}


def examples(doc: str):
    """{name: (bytes of the annotated dump, bytes of the hex line after it)}."""
    found = {}
    for m in re.finditer(
        r"<!-- example: (\w+) -->\s*```text\n(.*?)```(.*?)```text\n(.*?)```", doc, re.S
    ):
        name, dump, between, line = m.groups()
        assert "as one hex string" in between, name
        out = bytearray()
        for row in dump.splitlines():
            left = row.split("|")[0].split()
            if not left:
                continue
            offset, hexes = int(left[0]), left[1:]
            assert offset == len(out), f"{name}: offset {offset}, but {len(out)} bytes before it"
            out += bytes.fromhex("".join(hexes))
        found[name] = (bytes(out), bytes.fromhex(line.strip()))
    return found


@pytest.fixture
def doc_examples(repo):
    path = repo / "docs" / "PROTOCOL.md"
    if not path.exists():
        pytest.skip(f"{path} not found (the kit was copied without its repository)")
    return examples(path.read_text(encoding="utf-8"))


def test_the_document_has_both_examples(doc_examples):
    assert set(doc_examples) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_examples_decode_and_encode_byte_exactly(doc_examples, name):
    dump, line = doc_examples[name]
    assert dump == line, f"{name}: the dump and the hex line differ"
    assert decode(dump) == EXPECTED[name]
    assert encode(EXPECTED[name]) == dump


def test_sizes_are_as_stated(doc_examples):
    assert len(doc_examples["sensor_frame"][0]) == 94
    assert len(doc_examples["motor_command"][0]) == 47


def test_the_example_as_version_1_is_refused_with_the_version_named(doc_examples):
    v1 = bytearray(doc_examples["sensor_frame"][0])
    v1[2] = 1
    with pytest.raises(DecodeError) as e:
        decode(bytes(v1))
    assert e.value.cls == ErrorClass.UNSUPPORTED_VERSION
    assert str(e.value) == "unsupported protocol version 1 (this build speaks version 2)"
