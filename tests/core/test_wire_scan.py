"""The C wire scanner (proto_splitter._wire_scan, used through wire.occurrence_table) finds exactly what the
Python scanner wire.scan finds, on valid serializations of every test schema and on damaged bytes, where both
refuse at the same byte offset."""

from __future__ import annotations

import itertools

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


def damaged(message, cut: int, flip: int, value: int) -> bytes:
    """The message's serialization with byte `flip` set to `value` and `cut` bytes cut off its end."""
    data = bytearray(message.SerializeToString())
    if data:
        data[flip % len(data)] = value
        del data[len(data) - cut % (len(data) + 1) :]
    return bytes(data)


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
    data = damaged(message, cut, flip, value)
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


def test_key_entries_of_keys_sharing_their_top_bits():
    """Keys that all fall in one bucket of the first pass (hostile or unlucky names) still sort, in one go."""
    low = np.random.default_rng(6).integers(0, 1 << 21, 200_000, dtype=np.uint64).astype(np.uint32)
    keys = low | np.uint32(7 << 21)
    entries = wire.key_entries(keys)
    ordinals = np.arange(len(keys), dtype=np.uint64)
    assert (entries == np.sort((keys.astype(np.uint64) << np.uint64(32)) | ordinals)).all()


def test_key_entries_refuses_buffers_of_other_sizes():
    with pytest.raises(ValueError, match="key_entries"):
        wire._wire_scan.key_entries(np.zeros(3, np.uint32), np.zeros(2, np.uint64))
    with pytest.raises(ValueError, match="key_entries"):
        wire._wire_scan.key_entries(b"\x00" * 5, np.zeros(1, np.uint64))
    with pytest.raises(TypeError):
        wire._wire_scan.key_entries(np.zeros(1, np.uint32), b"\x00" * 8, np.zeros(1, np.uint64))  # not writable


# ---- SummaryStream: summarize over a message given in pieces ---------------------------------------------------


def summary_lists(summary):
    return None if summary is None else [array.tolist() for array in summary]


def streamed(data: bytes, cuts: list[int], gap: int, reuse: bool):
    """SummaryStream fed data cut at `cuts`, each piece in one reused buffer when `reuse` (as a scan reads)."""
    stream = wire.SummaryStream(len(data), gap)
    bounds = [0, *sorted({cut % (len(data) + 1) for cut in cuts}), len(data)]
    scratch = bytearray(len(data))
    for start, end in itertools.pairwise(bounds):
        if reuse:
            scratch[: end - start] = data[start:end]
            stream.feed(memoryview(scratch)[: end - start])
            scratch[: end - start] = b"\xff" * (end - start)  # the buffer is overwritten before the next piece
        else:
            stream.feed(data[start:end])
    return summary_lists(stream.finish())


def whole(data: bytes, gap: int):
    return summary_lists(wire.summarize(data, 0, len(data), gap))


@SETTINGS
@given(
    message=any_messages(),
    cuts=st.lists(st.integers(0, 1 << 16), max_size=12),
    gap=st.sampled_from([1, 7, 64, 1 << 16]),
    reuse=st.booleans(),
)
def test_a_summary_of_pieces_is_the_summary_of_the_whole(message, cuts, gap, reuse):
    data = message.SerializeToString()
    assert streamed(data, cuts, gap, reuse) == whole(data, gap)


@SETTINGS
@given(
    message=any_messages(),
    cut=st.integers(0, 400),
    flip=st.integers(0, 400),
    value=st.integers(0, 255),
    cuts=st.lists(st.integers(0, 1 << 12), max_size=8),
)
def test_damaged_pieces_fail_as_the_whole(message, cut, flip, value, cuts):
    data = damaged(message, cut, flip, value)
    try:
        expected = whole(data, 64)
    except wire.WireFormatError as error:
        expected = str(error)  # the same message, at the same byte
    try:
        got = streamed(data, cuts, 64, True)
    except wire.WireFormatError as error:
        got = str(error)
    assert got == expected


@pytest.mark.parametrize(
    "data, cuts",
    [
        (b"\x0b" + b"\x08\x01" * 100 + b"\x0c" + b"\x10\x02", [5, 9, 70]),  # a group across pieces
        (b"\x0a\x80\x02" + b"x" * 256 + b"\x10\x01", [1, 2, 3, 100, 259]),  # a key, a length, a payload cut
        (b"\x08\x96\x01" * 3, [1, 2, 4, 8]),  # varints cut
    ],
)
def test_occurrences_cut_anywhere(data, cuts):
    for reuse in (False, True):
        assert streamed(data, cuts, 1, reuse) == whole(data, 1)


def test_a_stream_must_be_given_its_size():
    stream = wire.SummaryStream(4, 64)
    stream.feed(b"\x08\x01")
    with pytest.raises(wire.WireFormatError, match="2 of the message's 4 bytes"):
        stream.finish()
    with pytest.raises(wire.WireFormatError, match="more than the message's 4 bytes"):
        stream.feed(b"\x08\x01\x08")


def test_a_payload_longer_than_the_message_is_refused_in_any_piece():
    stream = wire.SummaryStream(1000, 64)
    with pytest.raises(wire.WireFormatError, match="length runs past the end at byte 0"):
        stream.feed(b"\x0a\xe8\x07")  # 1000 bytes of payload announced in a 1000-byte message


def test_windows_outside_the_message_are_refused():
    summarizer = wire._wire_scan.Summarizer(64)
    with pytest.raises(ValueError, match="within the message"):
        summarizer.feed(b"\x08\x01", 0, 2, 5, 6)
