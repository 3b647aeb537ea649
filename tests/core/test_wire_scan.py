"""The C wire scanner (proto_splitter._wire_scan, used through wire.occurrence_table) finds exactly what the
Python scanner wire.scan finds, on valid serializations of every test schema and on damaged bytes, where both
refuse at the same byte offset."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto_splitter import wire

from .strategies import any_messages

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def python_table(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    return [((o.field_number << 3) | o.wire_type, o.start, o.end) for o in wire.scan(data, start, end)]


def c_table(data, start: int, end: int) -> list[tuple[int, int, int]]:
    table = wire.occurrence_table(data, start, end)
    return list(zip(table.keys.tolist(), table.starts.tolist(), table.ends.tolist(), strict=True))


def test_the_c_scanner_is_built():
    """CI builds the extension (a compiler is there); without it occurrence_table falls back to wire.scan."""
    assert wire._wire_scan is not None


@SETTINGS
@given(message=any_messages())
def test_same_occurrences_as_the_python_scanner(message):
    data = message.SerializeToString()
    assert c_table(data, 0, len(data)) == python_table(data, 0, len(data))
    assert c_table(memoryview(data), 0, len(data)) == python_table(data, 0, len(data))
    for occurrence in wire.scan(data):  # a nested message is scanned the same way
        if occurrence.wire_type == wire.LEN:
            payload = (occurrence.payload_start, occurrence.end)
            try:
                expected = python_table(data, *payload)
            except wire.WireFormatError:
                continue  # (a string or bytes value, not a message)
            assert c_table(data, *payload) == expected


@SETTINGS
@given(message=any_messages(), cut=st.integers(0, 400), flip=st.integers(0, 400), value=st.integers(0, 255))
def test_damaged_bytes_fail_alike(message, cut, flip, value):
    data = bytearray(message.SerializeToString())
    if data:
        data[flip % len(data)] = value
        del data[len(data) - cut % (len(data) + 1) :]
    data = bytes(data)
    try:
        expected = python_table(data, 0, len(data))
    except wire.WireFormatError:
        with pytest.raises(wire.WireFormatError, match="at byte"):
            wire.occurrence_table(data)
        return
    assert c_table(data, 0, len(data)) == expected


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x08", "truncated varint at byte 1"),
        (b"\x00\x01", "field number 0 at byte 0"),
        (b"\x0f", "invalid wire type at byte 0"),
        (b"\x12\x05ab", "length runs past the end at byte 0"),
        (b"\x0b\x08\x01\x14", "group closed by another end tag at byte 3"),
        (b"\x0d\x01\x02", "truncated fixed-width field at byte 0"),
        (b"\x08" + b"\xff" * 10 + b"\x01", "varint longer than 10 bytes"),
    ],
)
def test_errors_name_the_byte(data, message):
    with pytest.raises(wire.WireFormatError, match=message):
        wire.occurrence_table(data)


def test_bounds_are_checked():
    with pytest.raises(ValueError, match="start and end"):
        wire._wire_scan.occurrences(b"\x08\x01", 1, 5)


def test_a_million_elements():
    element = b"\x0a\x03abc"  # field 1, LEN 3
    data = element * 1_000_000
    table = wire.occurrence_table(data)
    assert len(table.keys) == 1_000_000 and set(np.unique(table.keys).tolist()) == {(1 << 3) | wire.LEN}
    assert table.starts[-1] == len(data) - 5 and table.ends[-1] == len(data)
