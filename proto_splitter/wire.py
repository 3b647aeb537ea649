"""Protobuf wire-format primitives: varints, tags and a scanner over the fields of a serialized message.

The splitter cuts messages at the wire level (a message's serialization is the concatenation of its field
occurrences), so it needs to find field boundaries without parsing whole messages into Python objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from .errors import ProtoSplitterError

try:
    from . import _wire_scan  # type: ignore[attr-defined]
except ImportError:  # the optional extension was not built (no compiler)
    _wire_scan = None

VARINT, FIXED64, LEN, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5
WireBuffer = bytes | bytearray | memoryview  # serialized bytes, indexed byte by byte (a memoryview cast to "B")

_FIXED_SIZES = {FIXED64: 8, FIXED32: 4}


class WireFormatError(ProtoSplitterError):
    """Bytes that should hold a serialized message are not valid protobuf wire format."""


def encode_varint(value: int) -> bytes:
    """Encodes a non-negative integer (or a negative int64, as 10 bytes) as a base-128 varint."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buf: WireBuffer, pos: int, end: int) -> tuple[int, int]:
    """Decodes a varint at buf[pos:end]; returns (value, position after it)."""
    result = shift = 0
    while True:
        if pos >= end:
            raise WireFormatError(f"truncated varint at byte {pos}")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireFormatError(f"varint longer than 10 bytes at byte {pos}")


def encode_tag(field_number: int, wire_type: int) -> bytes:
    """Encodes the key of a field occurrence."""
    return encode_varint((field_number << 3) | wire_type)


def length_delimited(field_number: int, payload_size: int) -> bytes:
    """Tag and length prefix of a length-delimited occurrence with a payload of payload_size bytes."""
    return encode_tag(field_number, LEN) + encode_varint(payload_size)


def zigzag_decode(value: int) -> int:
    """Decodes a sint32/sint64 varint value."""
    return (value >> 1) ^ -(value & 1)


def to_signed(value: int, bits: int) -> int:
    """Reinterprets an unsigned integer of `bits` bits as two's complement."""
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


@dataclass(frozen=True)
class Occurrence:
    """One field occurrence in a serialized message: buf[start:end] is the whole occurrence.

    For LEN the payload is buf[payload_start:end]; for groups it is buf[payload_start:end - end_tag_size]."""

    field_number: int
    wire_type: int
    start: int
    payload_start: int
    end: int
    end_tag_size: int = 0

    @property
    def payload_end(self) -> int:
        """End of the payload (before a group's end tag)."""
        return self.end - self.end_tag_size

    @property
    def payload_size(self) -> int:
        """Size of the payload in bytes."""
        return self.payload_end - self.payload_start


def scan(buf: WireBuffer, start: int = 0, end: int | None = None) -> Iterator[Occurrence]:
    """Yields the field occurrences of the message serialized in buf[start:end], in wire order."""
    end = len(buf) if end is None else end
    pos = start
    while pos < end:
        occurrence = _next(buf, pos, end)
        if occurrence.end > end:
            raise WireFormatError(
                f"length {occurrence.end - occurrence.payload_start} at byte {pos} runs past the end ({end})"
            )
        yield occurrence
        pos = occurrence.end


def _next(buf: WireBuffer, pos: int, end: int) -> Occurrence:
    """The occurrence starting at `pos`; a length-delimited one may end past `end` (the caller decides)."""
    occurrence_start = pos
    key, pos = decode_varint(buf, pos, end)
    field_number, wire_type = key >> 3, key & 7
    if field_number == 0:
        raise WireFormatError(f"field number 0 at byte {occurrence_start}")
    if wire_type == VARINT:
        _, after = decode_varint(buf, pos, end)
        return Occurrence(field_number, wire_type, occurrence_start, pos, after)
    if wire_type == LEN:
        size, payload_start = decode_varint(buf, pos, end)
        return Occurrence(field_number, wire_type, occurrence_start, payload_start, payload_start + size)
    if wire_type in _FIXED_SIZES:
        if pos + _FIXED_SIZES[wire_type] > end:
            raise WireFormatError(f"truncated fixed-width field at byte {occurrence_start}")
        return Occurrence(field_number, wire_type, occurrence_start, pos, pos + _FIXED_SIZES[wire_type])
    if wire_type == START_GROUP:
        after, end_tag_size = _skip_group(buf, pos, end, field_number)
        return Occurrence(field_number, wire_type, occurrence_start, pos, after, end_tag_size)
    raise WireFormatError(f"invalid wire type {wire_type} at byte {occurrence_start}")


def _skip_group(buf: WireBuffer, pos: int, end: int, field_number: int) -> tuple[int, int]:
    """Skips a group body starting at pos; returns (position after the end tag, size of the end tag)."""
    depth = 1
    while True:
        tag_start = pos
        key, pos = decode_varint(buf, pos, end)
        number, wire_type = key >> 3, key & 7
        if wire_type == END_GROUP:
            depth -= 1
            if depth == 0:
                if number != field_number:
                    raise WireFormatError(f"group {field_number} closed by end tag {number} at byte {tag_start}")
                return pos, pos - tag_start
        elif wire_type == START_GROUP:
            depth += 1
        elif wire_type == VARINT:
            _, pos = decode_varint(buf, pos, end)
        elif wire_type == LEN:
            size, pos = decode_varint(buf, pos, end)
            pos += size
        elif wire_type in _FIXED_SIZES:
            pos += _FIXED_SIZES[wire_type]
        else:
            raise WireFormatError(f"invalid wire type {wire_type} at byte {tag_start}")
        if pos > end:
            raise WireFormatError(f"group {field_number} runs past the end ({end})")


class OccurrenceTable(NamedTuple):
    """Occurrences as parallel arrays: keys ((field number << 3) | wire type), starts, ends."""

    keys: npt.NDArray[np.uint64]
    starts: npt.NDArray[np.uint64]
    ends: npt.NDArray[np.uint64]


def occurrence_table(buf: WireBuffer, start: int = 0, end: int | None = None) -> OccurrenceTable:
    """The top-level occurrences of buf[start:end] as arrays (keys, starts, ends), numpy uint64: what scan()
    yields, for bulk work (millions of list elements). Uses the optional C scanner when it was built (one pass
    at memory speed), else scan() (about a million occurrences per second). Raises WireFormatError."""
    end = len(memoryview(buf)) if end is None else end
    if _wire_scan is not None:
        try:
            packed = _wire_scan.occurrences(buf, start, end)
        except ValueError as error:
            raise WireFormatError(str(error)) from None
        table = np.frombuffer(packed, dtype="<u8").reshape(-1, 3)
    else:
        rows = [((o.field_number << 3) | o.wire_type, o.start, o.end) for o in scan(buf, start, end)]
        table = np.array(rows, dtype=np.uint64).reshape(-1, 3)
    return OccurrenceTable(table[:, 0], table[:, 1], table[:, 2])


# ---- indexing: summaries, element keys and windowed lookups (the C scanner, or the same in Python) ----------------

_FNV_OFFSET, _FNV_PRIME, _MASK64 = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1
MAX_SUMMARIZED_FIELDS = 1 << 16  # a message with more distinct field numbers is not summarized


def key_hash(data: bytes | bytearray | memoryview) -> int:
    """The 32-bit hash by which indexes find keys (names, map keys): FNV-1a 64 finished by MurmurHash3's fmix64,
    upper half. Stable across versions (it is written into files)."""
    if _wire_scan is not None:
        return int(_wire_scan.key_hash(data))
    value = _FNV_OFFSET
    for byte in bytes(data):
        value = ((value ^ byte) * _FNV_PRIME) & _MASK64
    for multiplier in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
        value = ((value ^ (value >> 33)) * multiplier) & _MASK64
    return (value ^ (value >> 33)) >> 32


class FieldSummary(NamedTuple):
    """The top-level occurrences of a serialized message, per field number (parallel arrays): how many there are,
    which wire types they use (a bit mask), and checkpoints: rows `first_rows[i]` to `first_rows[i] + rows[i]` of
    `checkpoints` are (ordinal among the field's occurrences, start) pairs, the first occurrence and then each one
    starting at least `gap` bytes after the previous checkpoint. So the n-th occurrence of a field is found by
    scanning from the last checkpoint at or before it, never more than `gap` bytes before it starts."""

    numbers: npt.NDArray[np.uint64]
    masks: npt.NDArray[np.uint64]
    counts: npt.NDArray[np.uint64]
    first_rows: npt.NDArray[np.uint64]
    rows: npt.NDArray[np.uint64]
    checkpoints: npt.NDArray[np.uint64]


def summarize(buf: WireBuffer, start: int, end: int, gap: int) -> FieldSummary | None:
    """The FieldSummary of the message buf[start:end] (offsets relative to buf); None when it has more than
    MAX_SUMMARIZED_FIELDS distinct field numbers. Raises WireFormatError."""
    if _wire_scan is not None:
        try:
            packed = _wire_scan.summarize(buf, start, end, gap)
        except ValueError as error:
            raise WireFormatError(str(error)) from None
        return _summary(packed)
    states: dict[int, list[Any]] = {}  # number -> [mask, count, last checkpoint start, checkpoints]
    for occ in scan(buf, start, end):
        state = states.get(occ.field_number)
        if state is None:
            if len(states) == MAX_SUMMARIZED_FIELDS:
                return None
            state = states[occ.field_number] = [0, 0, 0, []]
        if state[1] == 0 or occ.start - state[2] >= gap:
            state[3].append((state[1], occ.start))
            state[2] = occ.start
        state[0] |= 1 << occ.wire_type
        state[1] += 1
    rows, first = [], 0
    for number, (mask, count, _, points) in states.items():
        rows.append((number, mask, count, first, len(points)))
        first += len(points)
    fields = np.array(rows, dtype=np.uint64).reshape(-1, 5)
    points_array = np.array([p for state in states.values() for p in state[3]], dtype=np.uint64).reshape(-1, 2)
    return FieldSummary(fields[:, 0], fields[:, 1], fields[:, 2], fields[:, 3], fields[:, 4], points_array)


def _summary(packed: tuple[bytes, bytes] | None) -> FieldSummary | None:
    """A FieldSummary from the C scanner's (fields, checkpoints) bytes."""
    if packed is None:
        return None
    fields = np.frombuffer(packed[0], dtype="<u8").reshape(-1, 5)
    checkpoints = np.frombuffer(packed[1], dtype="<u8").reshape(-1, 2)
    return FieldSummary(fields[:, 0], fields[:, 1], fields[:, 2], fields[:, 3], fields[:, 4], checkpoints)


class SummaryStream:
    """summarize() over a message given in consecutive pieces of any sizes (a record read window by window into
    one buffer), keeping none of them: the occurrence a piece ends inside is carried over (a few bytes, or a group
    until its end), a payload running past a piece is skipped. Without the C scanner the pieces are kept and
    summarized at the end."""

    _FIRST_TRY = 64  # bytes of the next piece joined to a carried occurrence (a key and a length need at most 20)

    def __init__(self, size: int, gap: int):
        self.size, self._gap = size, gap
        self._summarizer = _wire_scan.Summarizer(gap) if _wire_scan is not None else None
        self._kept = bytearray() if _wire_scan is None else None
        self._received = 0  # message bytes given so far
        self._resume = 0  # where the next occurrence to summarize starts
        self._carry = b""  # bytes [resume, received) when resume < received: an occurrence not yet whole

    def feed(self, piece: WireBuffer) -> None:
        """The message's next bytes (not kept: the buffer may be reused). Raises WireFormatError."""
        view = memoryview(piece).cast("B")
        begin = self._received
        self._received += len(view)
        if self._received > self.size:
            raise WireFormatError(f"more than the message's {self.size} bytes were given")
        if self._kept is not None:
            self._kept += view
            return
        if self._carry and not self._join_carry(view):
            return
        if self._resume < self._received:
            self._resume = self._feed(view, self._resume - begin, begin)
        if self._resume < self._received:
            self._carry = bytes(view[self._resume - begin :])

    def finish(self) -> FieldSummary | None:
        """The summary of the whole message (as summarize). Raises WireFormatError."""
        if self._received != self.size:
            raise WireFormatError(f"{self._received} of the message's {self.size} bytes were given")
        if self._kept is not None:
            return summarize(self._kept, 0, len(self._kept), self._gap)
        assert self._summarizer is not None
        return _summary(self._summarizer.finish())

    def _feed(self, window: memoryview, start: int, begin: int) -> int:
        assert self._summarizer is not None
        try:
            return int(self._summarizer.feed(window, start, len(window), begin + start, self.size))
        except ValueError as error:
            raise WireFormatError(str(error)) from None

    def _join_carry(self, view: memoryview) -> bool:
        """Summarizes the carried occurrence with as much of `view` as it needs; False when even all of it does
        not complete it (then all of it is carried on)."""
        carried, take = self._resume, self._FIRST_TRY
        while True:
            take = min(len(view), max(take, len(self._carry)))
            joined = self._carry + bytes(view[:take])
            self._resume = self._feed(memoryview(joined), 0, carried)
            if self._resume > carried or take == len(view):
                break
            take *= 2
        self._carry = b"" if self._resume > carried else joined
        return self._resume > carried


def element_keys(buf: WireBuffer, start: int, end: int, field_number: int, key_field: int) -> npt.NDArray[np.uint32]:
    """For each top-level occurrence of `field_number` in buf[start:end], in order: the key_hash of the last
    length-delimited occurrence of `key_field` inside it (a NodeDef's name, a map entry's string key), or of b""
    when it has none or is not a message. Raises WireFormatError for the outer message."""
    if _wire_scan is not None:
        try:
            packed = _wire_scan.element_keys(buf, start, end, field_number, key_field)
        except ValueError as error:
            raise WireFormatError(str(error)) from None
        return np.frombuffer(packed, dtype="<u4")
    empty = key_hash(b"")
    keys = []
    for occ in scan(buf, start, end):
        if occ.field_number != field_number:
            continue
        key = empty
        if occ.wire_type == LEN:
            try:
                inner = [o for o in scan(buf, occ.payload_start, occ.end) if o.field_number == key_field]
                if inner and inner[-1].wire_type == LEN:
                    key = key_hash(bytes(buf[inner[-1].payload_start : inner[-1].end]))
            except WireFormatError:
                key = empty
        keys.append(key)
    return np.array(keys, dtype=np.uint32)


def key_entries(keys: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint64]:
    """The entries of a key table for these element keys (element_keys, in list order, fewer than 2**32):
    (key << 32) | ordinal, sorted. A radix sort in C (stable over the keys: the same order as sorting the whole
    uint64s, in one pass over memory), numpy's sort without it."""
    count = len(keys)
    if _wire_scan is not None:
        entries = np.empty(count, dtype=np.uint64)
        _wire_scan.key_entries(np.ascontiguousarray(keys, dtype="<u4"), entries)
        return entries
    return np.sort((keys.astype(np.uint64) << np.uint64(32)) | np.arange(count, dtype=np.uint64))


def nth_occurrence(buf: WireBuffer, start: int, end: int, field_number: int, n: int) -> tuple[bool, int, int]:
    """Looks for the n-th (from 0) top-level occurrence of `field_number` in a window buf[start:end] of a longer
    message. Returns (True, its start, its end), its end possibly past the window; or (False, resume, seen): the
    occurrences before `resume` lie whole in the window and hold `seen` of the field's, and the one starting at
    `resume` (when it is before the window's end) does not end in it; call again from there for n - seen. Raises
    WireFormatError for bytes that are not wire format."""
    if _wire_scan is not None:
        try:
            found, first, second = _wire_scan.nth(buf, start, end, field_number, n)
        except ValueError as error:
            raise WireFormatError(str(error)) from None
        return bool(found), first, second
    pos, seen = start, 0
    while pos < end:
        try:
            found = _next(buf, pos, end)
        except WireFormatError as error:
            if "truncated" in str(error) or "past the end" in str(error):
                return False, pos, seen
            raise
        if found.field_number == field_number and seen == n:
            return True, found.start, found.end
        if found.end > end:
            return False, pos, seen
        seen += found.field_number == field_number
        pos = found.end
    return False, pos, seen


def nested_occurrences(buf: WireBuffer, ranges: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The top-level occurrences of each message buf[start:end] of `ranges` ((start, end) rows), as rows (range's
    row, key, start, payload start, payload end): one call for millions of small messages. Raises
    WireFormatError."""
    ranges = np.ascontiguousarray(ranges, dtype="<u8").reshape(-1, 2)
    if _wire_scan is not None:
        try:
            packed = _wire_scan.nested(buf, ranges.tobytes())
        except ValueError as error:
            raise WireFormatError(str(error)) from None
        return np.frombuffer(packed, dtype="<u8").reshape(-1, 5)
    rows = [
        (row, (o.field_number << 3) | o.wire_type, o.start, o.payload_start, o.payload_end)
        for row, (start, end) in enumerate(ranges.tolist())
        for o in scan(buf, start, end)
    ]
    return np.array(rows, dtype=np.uint64).reshape(-1, 5)
