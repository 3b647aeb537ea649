"""Protobuf wire-format primitives: varints, tags and a scanner over the fields of a serialized message.

The splitter cuts messages at the wire level (a message's serialization is the concatenation of its field
occurrences), so it needs to find field boundaries without parsing whole messages into Python objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

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
        occurrence_start = pos
        key, pos = decode_varint(buf, pos, end)
        field_number, wire_type = key >> 3, key & 7
        if field_number == 0:
            raise WireFormatError(f"field number 0 at byte {occurrence_start}")
        if wire_type == VARINT:
            _, after = decode_varint(buf, pos, end)
            yield Occurrence(field_number, wire_type, occurrence_start, pos, after)
            pos = after
        elif wire_type == LEN:
            size, payload_start = decode_varint(buf, pos, end)
            pos = payload_start + size
            if pos > end:
                raise WireFormatError(f"length {size} at byte {occurrence_start} runs past the end ({end})")
            yield Occurrence(field_number, wire_type, occurrence_start, payload_start, pos)
        elif wire_type in _FIXED_SIZES:
            payload_start, pos = pos, pos + _FIXED_SIZES[wire_type]
            if pos > end:
                raise WireFormatError(f"truncated fixed-width field at byte {occurrence_start}")
            yield Occurrence(field_number, wire_type, occurrence_start, payload_start, pos)
        elif wire_type == START_GROUP:
            payload_start = pos
            pos, end_tag_size = _skip_group(buf, pos, end, field_number)
            yield Occurrence(field_number, wire_type, occurrence_start, payload_start, pos, end_tag_size)
        else:
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
