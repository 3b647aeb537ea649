"""The state machine of a transposed chunk ('t'), as Google's riegeli lays it out in the chunk header: what each
state (node) emits, which data buffer it reads, and where it goes next. Shared by the decoder and the encoder.

Decoding walks the states from the last field of the last record back to the first record, writing each
record backwards: a state emits a field (its tag, and a value from its buffer or inlined in it), marks where a
submessage or a record begins or ends, or does nothing (a hop towards states further away). After a state, the
next one is its `next` (implicit: no transition byte is read) or `next` plus a transition byte's offset."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import RiegeliError
from .sources import Bytes
from .varint import read_varint, varint

# Reserved ids in place of a tag (Google's MessageId), and the wire type marking the end of a submessage.
NO_OP, NON_PROTO, START_OF_SUBMESSAGE, START_OF_MESSAGE = 0, 1, 2, 3
SUBMESSAGE_WIRE_TYPE = 6
# Subtypes: of varint fields, the value's length in the buffer (1..10), or the value inlined (0..127);
# of length-delimited fields, a string or the end of a submessage.
VARINT_INLINE_0 = 10
VARINT_INLINE_MAX = VARINT_INLINE_0 + 0x7F
STRING_SUBTYPE, END_OF_SUBMESSAGE_SUBTYPE = 0, 2
WIRE_VARINT, WIRE_FIXED64, WIRE_LENGTH_DELIMITED, WIRE_START_GROUP, WIRE_END_GROUP, WIRE_FIXED32 = range(6)

# What a state does (the decoder's callbacks).
NOOP, NONPROTO, MESSAGE_START, SUBMESSAGE_START, SUBMESSAGE_END, COPY_TAG, VARINT, FIXED, STRING = range(9)

NODE = struct.Struct("<BBBBiI8s")
"""A state packed for the C decoder: kind, tag length, value length, implicit, buffer, next, tag bytes."""


def has_subtype(tag: int) -> bool:
    """Whether a field tag is followed by a subtype byte in the header: varint fields."""
    return tag & 7 == WIRE_VARINT


def has_data_buffer(tag: int, subtype: int) -> bool:
    """Whether a field state reads its value from a data buffer."""
    wire = tag & 7
    if wire == WIRE_VARINT:
        return subtype < VARINT_INLINE_0
    if wire == WIRE_LENGTH_DELIMITED:
        return subtype == STRING_SUBTYPE
    return wire in (WIRE_FIXED32, WIRE_FIXED64)


def valid_tag(tag: int) -> bool:
    """A field number of at least 1 and a wire type protobuf knows (0..5)."""
    return tag >= 8 and tag & 7 <= WIRE_FIXED32


@dataclass
class StateMachine:
    """Parsed states, one list entry per state, and where decoding starts."""

    kinds: list[int]
    tags: list[bytes]  # the field's tag, then the inlined value for inline varints
    sizes: list[int]  # value length of VARINT and FIXED states
    buffers: list[int]  # data buffer index, or -1
    nexts: list[int]
    implicit: list[bool]
    first: int
    nonproto_lengths: int  # the buffer holding the lengths of non-proto records (the last one), or -1

    def packed(self) -> bytes:
        """The states in NODE layout, for the C decoder."""
        return b"".join(
            NODE.pack(kind, len(tag), size, is_implicit, buffer, following, tag)
            for kind, tag, size, buffer, following, is_implicit in zip(
                self.kinds, self.tags, self.sizes, self.buffers, self.nexts, self.implicit, strict=True
            )
        )


class HeaderReader:
    """Reads a transposed chunk's decompressed header; `pos` names the chunk in errors."""

    def __init__(self, data: Bytes, pos: int):
        self.data, self.offset, self.pos = data, 0, pos

    def remaining(self) -> int:
        return len(self.data) - self.offset

    def fail(self, what: str) -> RiegeliError:
        return RiegeliError(f"transposed chunk at byte {self.pos}: {what}")

    def varint64(self) -> int:
        value, self.offset = read_varint(self.data, self.offset, self.pos)
        return value

    def varint32(self) -> int:
        start = self.offset
        value = self.varint64()
        if value >> 32 or self.offset - start > 5:
            raise self.fail(f"malformed varint32 at header byte {start}")
        return value

    def _fits(self, count: int, what: str) -> None:
        if count > self.remaining():  # each takes at least one byte: a forged count allocates nothing
            raise self.fail(f"{count} {what} do not fit in the {len(self.data)}-byte header")

    def varints32(self, count: int, what: str) -> list[int]:
        self._fits(count, what)
        return [self.varint32() for _ in range(count)]

    def varints64(self, count: int, what: str) -> list[int]:
        self._fits(count, what)
        return [self.varint64() for _ in range(count)]

    def take(self, count: int, what: str) -> Bytes:
        if count > self.remaining():
            raise self.fail(f"{what} ({count} bytes) run past the header")
        self.offset += count
        return self.data[self.offset - count : self.offset]


def parse_state_machine(header: HeaderReader, num_buffers: int) -> StateMachine:
    """The states of a transposed chunk, from the header after its bucket and buffer sizes, checked the way
    Google's decoder checks them (tags, subtypes, buffer and state indices, no loop of implicit transitions)."""
    count = header.varint32()
    if 2 * count > header.remaining():
        raise header.fail(f"{count} states do not fit in the {len(header.data)}-byte header")
    raw_tags = header.varints32(count, "state tags")
    raw_nexts = header.varints32(count, "state transitions")
    subtypes = header.take(sum(1 for tag in raw_tags if valid_tag(tag) and has_subtype(tag)), "subtypes")
    machine = StateMachine([], [], [], [], [], [], 0, -1)
    next_subtype = 0

    def buffer_index() -> int:
        index = header.varint32()
        if index >= num_buffers:
            raise header.fail(f"buffer index {index} out of range ({num_buffers} buffers)")
        return index

    for tag in raw_tags:
        tag_bytes, size, buffer = b"", 0, -1
        if tag == NO_OP:
            kind = NOOP
        elif tag == NON_PROTO:
            kind, buffer = NONPROTO, buffer_index()
            machine.nonproto_lengths = num_buffers - 1
        elif tag == START_OF_MESSAGE:
            kind = MESSAGE_START
        elif tag == START_OF_SUBMESSAGE:
            kind = SUBMESSAGE_START
        else:
            subtype = STRING_SUBTYPE
            if tag & 7 == SUBMESSAGE_WIRE_TYPE:
                tag, subtype = tag - SUBMESSAGE_WIRE_TYPE + WIRE_LENGTH_DELIMITED, END_OF_SUBMESSAGE_SUBTYPE
            if not valid_tag(tag):
                raise header.fail(f"invalid tag {tag}")
            tag_bytes = varint(tag)
            if has_subtype(tag):
                subtype = subtypes[next_subtype]
                next_subtype += 1
            if has_data_buffer(tag, subtype):
                buffer = buffer_index()
            kind, size, tag_bytes = _field_kind(tag, subtype, tag_bytes, header)
        machine.kinds.append(kind)
        machine.tags.append(tag_bytes)
        machine.sizes.append(size)
        machine.buffers.append(buffer)
    for following in raw_nexts:
        is_implicit = following >= count
        following -= count if is_implicit else 0
        if following >= count:
            raise header.fail(f"state index {following} out of range ({count} states)")
        machine.nexts.append(following)
        machine.implicit.append(is_implicit)
    machine.first = header.varint32()
    if machine.first >= count:
        raise header.fail(f"first state {machine.first} out of range ({count} states)")
    if _has_implicit_loop(machine.nexts, machine.implicit):
        raise header.fail("the states contain a loop of implicit transitions")
    if header.remaining():
        raise header.fail(f"{header.remaining()} unexpected bytes at the end of the header")
    return machine


def _field_kind(tag: int, subtype: int, tag_bytes: bytes, header: HeaderReader) -> tuple[int, int, bytes]:
    """(kind, value length, emitted tag bytes) of a field state."""
    wire = tag & 7
    if wire == WIRE_VARINT:
        if subtype < VARINT_INLINE_0:
            return VARINT, subtype + 1, tag_bytes
        if subtype <= VARINT_INLINE_MAX:
            return COPY_TAG, 0, tag_bytes + bytes([subtype - VARINT_INLINE_0])
        raise header.fail(f"invalid subtype {subtype} of tag {tag}")
    if wire == WIRE_FIXED32:
        return FIXED, 4, tag_bytes
    if wire == WIRE_FIXED64:
        return FIXED, 8, tag_bytes
    if wire == WIRE_LENGTH_DELIMITED:
        return (STRING if subtype == STRING_SUBTYPE else SUBMESSAGE_END), 0, tag_bytes
    return COPY_TAG, 0, tag_bytes  # start and end of a group


def _has_implicit_loop(nexts: list[int], implicit: list[bool]) -> bool:
    """Whether following implicit transitions from some state never ends (decoding would not either)."""
    walk_of = [0] * len(nexts)
    for start in range(len(nexts)):
        if walk_of[start]:
            continue
        walk = start + 1
        state = start
        walk_of[state] = walk
        while implicit[state]:
            state = nexts[state]
            if walk_of[state] == walk:
                return True
            if walk_of[state]:
                break
            walk_of[state] = walk
    return False
