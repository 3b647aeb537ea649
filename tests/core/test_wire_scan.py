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


def python_element_keys(data: bytes, number: int, key_field: int, monkeypatch) -> list[int]:
    with monkeypatch.context() as patched:
        patched.setattr(wire, "_wire_scan", None)
        return wire.element_keys(data, 0, len(data), number, key_field).tolist()


@SETTINGS
@given(message=any_messages(), key_field=st.integers(1, 3))
def test_element_keys_as_the_python_scanner(message, key_field):
    """The key of each occurrence of each field (the last length-delimited key_field inside it, else the empty
    string's), damaged elements included: the C scanner and wire.scan agree."""
    data = message.SerializeToString()
    with pytest.MonkeyPatch.context() as monkeypatch:
        for number in {occurrence.field_number for occurrence in wire.scan(data)}:
            expected = python_element_keys(data, number, key_field, monkeypatch)
            assert wire.element_keys(data, 0, len(data), number, key_field).tolist() == expected


def test_element_keys_of_names():
    names = [b"a", b"", b"node/with/a/long/name" * 3]
    elements = b"".join(
        b"\x0a" + bytes([len(name) + 6]) + b"\x12\x02op" + b"\x0a" + bytes([len(name)]) + name for name in names
    )  # each element's name twice: the last one counts
    data = elements + b"\x10\x07" + b"\x0a\x03\x08\x01\x08"  # a varint field 2; an element that is not a message
    keys = wire.element_keys(data, 0, len(data), 1, 1).tolist()
    assert keys == [wire.key_hash(name) for name in names] + [wire.key_hash(b"")]


@SETTINGS
@given(keys=st.lists(st.integers(0, 2**32 - 1) | st.sampled_from([0, 7, 2**32 - 1]), max_size=3000))
def test_key_entries_sort_key_and_ordinal(keys):
    """Entries (key << 32 | ordinal) sorted: the C radix sort and numpy's sort of the whole uint64s agree."""
    array = np.array(keys, dtype=np.uint32)
    entries = wire.key_entries(array)
    ordinals = np.arange(len(keys), dtype=np.uint64)
    assert entries.dtype == np.uint64
    assert entries.tolist() == np.sort((array.astype(np.uint64) << np.uint64(32)) | ordinals).tolist()
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(wire, "_wire_scan", None)
        assert wire.key_entries(array).tolist() == entries.tolist()


def test_key_entries_of_millions():
    keys = np.random.default_rng(5).integers(0, 2**32, 3_000_000, dtype=np.uint64).astype(np.uint32)
    keys[::1000] = 12345  # repeated keys keep their ordinals in order
    entries = wire.key_entries(keys)
    assert (entries[1:] > entries[:-1]).all()  # sorted, and each ordinal once
    assert (
        (entries >> np.uint64(32)).astype(np.uint32) == keys[(entries & np.uint64(0xFFFFFFFF)).astype(np.int64)]
    ).all()


def test_key_entries_refuses_buffers_of_other_sizes():
    with pytest.raises(ValueError, match="key_entries"):
        wire._wire_scan.key_entries(np.zeros(3, np.uint32), np.zeros(3, np.uint64), np.zeros(2, np.uint64))
    with pytest.raises(ValueError, match="key_entries"):
        wire._wire_scan.key_entries(b"\x00" * 5, np.zeros(1, np.uint64), np.zeros(1, np.uint64))
    with pytest.raises(TypeError):
        wire._wire_scan.key_entries(np.zeros(1, np.uint32), b"\x00" * 8, np.zeros(1, np.uint64))  # not writable
