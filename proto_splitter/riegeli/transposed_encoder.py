"""Transposes records into the parts of a transposed chunk, in Python: the portable twin of the C encoder in
`_transposed.c` (used when that optional extension is not built; both give the same bytes).

A record that is a protobuf message in canonical encoding is split into its fields: each field path (parent
submessage, tag) gets a data buffer holding the values of all records, and the sequence of fields becomes the
transitions of a state machine. Other records are stored whole ("non-proto"). Buffers are written so that the
decoder, walking the records backwards, reads each buffer front to back.

The state machine is simpler than Google's but read the same way: every field kind (field path and subtype)
gets its own list of the states that can follow it in the backward walk, most frequent first (one state: an
implicit transition, no byte; more than 64: blocks of 63 and a no-op state hopping to the next block)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .sources import Bytes
from .transposed_states import (
    END_OF_SUBMESSAGE_SUBTYPE,
    NO_OP,
    NON_PROTO,
    START_OF_MESSAGE,
    START_OF_SUBMESSAGE,
    STRING_SUBTYPE,
    SUBMESSAGE_WIRE_TYPE,
    VARINT_INLINE_0,
    WIRE_END_GROUP,
    WIRE_FIXED32,
    WIRE_FIXED64,
    WIRE_LENGTH_DELIMITED,
    WIRE_START_GROUP,
    WIRE_VARINT,
    has_data_buffer,
)
from .varint import varint

MAX_INLINE_VARINT = 3  # varint values up to this are inlined in their state, as Google's encoder does
MAX_RECURSION_DEPTH = 100  # deeper submessages are stored as strings
MAX_TRANSITION = 63
START_OF_SUBMESSAGE_SUBTYPE = 1
ROOT = 4  # the parent of top-level fields (Google's MessageId::kRoot); field paths get ids from 5 on
# Buffer types, in their order in the chunk: buffers of one type share buckets, which helps compression.
VARINT_BUFFER, FIXED32_BUFFER, FIXED64_BUFFER, STRING_BUFFER, NONPROTO_BUFFER, NONPROTO_LENGTHS_BUFFER = range(6)
BUFFER_TYPES = {WIRE_VARINT: VARINT_BUFFER, WIRE_FIXED32: FIXED32_BUFFER, WIRE_FIXED64: FIXED64_BUFFER}


@dataclass
class Transposed:
    """The parts of a transposed chunk before bucketing and compression."""

    buffers: list[tuple[int, bytes]]  # (buffer type, contents), in the chunk's order
    states: bytes  # the header from the number of states on
    transitions: bytes


# ---- is a record a protobuf message? -------------------------------------------------------------------------


def canonical_varint(data: Bytes, index: int, end: int, max_bytes: int) -> tuple[int, int] | None:
    """A varint at data[index:end] in its shortest form, of at most `max_bytes` bytes (5: 32 bits, 10: 64
    bits), and the index after it; None when there is none."""
    value = shift = 0
    for position in range(index, min(end, index + max_bytes)):
        byte = data[position]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if (byte == 0 and position > index) or value >> (32 if max_bytes == 5 else 64):
                return None
            return value, position + 1
        shift += 7
    return None


def is_proto_message(data: Bytes, index: int, end: int) -> bool:
    """Whether data[index:end] is a protobuf message in canonical encoding (so that splitting it into fields
    and joining them again gives the same bytes), with its groups closed."""
    groups: list[int] = []
    while index < end:
        tag = canonical_varint(data, index, end, 5)
        if tag is None or tag[0] >> 3 == 0:
            return False
        wire, index = tag[0] & 7, tag[1]
        if wire == WIRE_VARINT:
            value = canonical_varint(data, index, end, 10)
            if value is None:
                return False
            index = value[1]
        elif wire in (WIRE_FIXED32, WIRE_FIXED64):
            index += 4 if wire == WIRE_FIXED32 else 8
            if index > end:
                return False
        elif wire == WIRE_LENGTH_DELIMITED:
            length = canonical_varint(data, index, end, 5)
            if length is None or length[1] + length[0] > end:
                return False
            index = length[1] + length[0]
        elif wire == WIRE_START_GROUP:
            groups.append(tag[0] >> 3)
        elif wire == WIRE_END_GROUP:
            if not groups or groups.pop() != tag[0] >> 3:
                return False
        else:
            return False
    return not groups


# ---- splitting records into fields --------------------------------------------------------------------------


class _Fields:
    """Field paths (nodes), field kinds (a node and a subtype: the states' tags), the sequence of field kinds
    of all records, and each node's buffer items in record order."""

    def __init__(self) -> None:
        self.node_ids: dict[tuple[int, int], int] = {}
        self.node_keys: list[tuple[int, int]] = []  # (parent id, tag)
        self.items: list[list[Bytes]] = []
        self.kind_ids: dict[tuple[int, int], int] = {}
        self.kinds: list[tuple[int, int]] = []  # (node, subtype)
        self.sequence: list[int] = []
        self.nonproto_lengths: list[bytes] = []

    def node(self, parent: int, tag: int) -> int:
        node = self.node_ids.get((parent, tag))
        if node is None:
            node = self.node_ids[parent, tag] = len(self.node_keys)
            self.node_keys.append((parent, tag))
            self.items.append([])
        return node

    def emit(self, node: int, subtype: int) -> None:
        kind = self.kind_ids.get((node, subtype))
        if kind is None:
            kind = self.kind_ids[node, subtype] = len(self.kinds)
            self.kinds.append((node, subtype))
        self.sequence.append(kind)

    def add_record(self, record: Bytes) -> None:
        if is_proto_message(record, 0, len(record)):
            self.emit(self.node(START_OF_MESSAGE, 0), 0)
            self._add_message(record)
        else:
            node = self.node(NON_PROTO, 0)
            self.emit(node, 0)
            self.items[node].append(record)
            self.nonproto_lengths.append(varint(len(record)))

    def _add_message(self, data: Bytes) -> None:
        parent, index, end = ROOT, 0, len(data)
        submessages: list[tuple[int, int, int]] = []  # (end-of-submessage node, parent, end) of each open one
        groups: list[int] = []  # parents of the open groups
        while True:
            while index < end:
                tag, index = _varint(data, index)
                node = self.node(parent, tag)
                wire = tag & 7
                if wire == WIRE_VARINT:
                    start = index
                    while data[index] & 0x80:
                        index += 1
                    index += 1
                    if data[start] <= MAX_INLINE_VARINT:
                        self.emit(node, VARINT_INLINE_0 + data[start])
                    else:
                        self.emit(node, index - start - 1)
                        self.items[node].append(bytes(byte & 0x7F for byte in data[start:index]))
                elif wire in (WIRE_FIXED32, WIRE_FIXED64):
                    size = 4 if wire == WIRE_FIXED32 else 8
                    self.emit(node, 0)
                    self.items[node].append(data[index : index + size])
                    index += size
                elif wire == WIRE_LENGTH_DELIMITED:
                    length, value = _varint(data, index)
                    if (
                        length
                        and len(submessages) + len(groups) < MAX_RECURSION_DEPTH
                        and is_proto_message(data, value, value + length)
                    ):
                        self.emit(node, START_OF_SUBMESSAGE_SUBTYPE)
                        submessages.append((node, parent, end))
                        parent, index, end = _message_id(node), value, value + length
                        continue
                    self.emit(node, STRING_SUBTYPE)
                    self.items[node].append(data[index : value + length])
                    index = value + length
                elif wire == WIRE_START_GROUP:
                    self.emit(node, 0)
                    groups.append(parent)
                    parent = _message_id(node)
                else:  # the end of a group (is_proto_message saw every group closed)
                    parent = groups.pop()
                    self.emit(node, 0)
            if not submessages:
                return
            node, parent, end = submessages.pop()
            self.emit(node, END_OF_SUBMESSAGE_SUBTYPE)


def _varint(data: Bytes, index: int) -> tuple[int, int]:
    """A varint of a message is_proto_message accepted, and the index after it."""
    value = shift = 0
    while True:
        byte = data[index]
        value |= (byte & 0x7F) << shift
        index += 1
        if byte < 0x80:
            return value, index
        shift += 7


def _message_id(node: int) -> int:
    return ROOT + 1 + node


# ---- buffers, states and transitions -------------------------------------------------------------------------


def transpose(records: Sequence[Bytes]) -> Transposed:
    """The buffers, states and transitions of a transposed chunk holding `records`."""
    fields = _Fields()
    for record in records:
        fields.add_record(record)
    buffers, buffer_of_node = _buffers(fields)
    states, transitions = _states(fields, buffer_of_node)
    return Transposed(buffers, states, transitions)


def _buffer_type(key: tuple[int, int]) -> int:
    parent, tag = key
    return NONPROTO_BUFFER if parent == NON_PROTO else BUFFER_TYPES.get(tag & 7, STRING_BUFFER)


def _buffers(fields: _Fields) -> tuple[list[tuple[int, bytes]], dict[int, int]]:
    """Each node's buffer (its items, last record first), by type and size as Google orders them, then the
    lengths of the non-proto records; and the buffer index of each node."""
    contents = {node: b"".join(reversed(items)) for node, items in enumerate(fields.items) if items}
    keys = fields.node_keys
    order = sorted(contents, key=lambda node: (_buffer_type(keys[node]), len(contents[node]), keys[node]))
    buffers = [(_buffer_type(fields.node_keys[node]), contents[node]) for node in order]
    if fields.nonproto_lengths:
        buffers.append((NONPROTO_LENGTHS_BUFFER, b"".join(reversed(fields.nonproto_lengths))))
    return buffers, {node: index for index, node in enumerate(order)}


def _state_tag(fields: _Fields, kind: int) -> int:
    """The number standing for a field kind in the header: a reserved id, or the field's tag (with the wire
    type 6 for the end of a submessage)."""
    node, subtype = fields.kinds[kind]
    parent, tag = fields.node_keys[node]
    if parent in (NON_PROTO, START_OF_MESSAGE):
        return parent
    if tag & 7 == WIRE_LENGTH_DELIMITED and subtype == START_OF_SUBMESSAGE_SUBTYPE:
        return START_OF_SUBMESSAGE
    if tag & 7 == WIRE_LENGTH_DELIMITED and subtype == END_OF_SUBMESSAGE_SUBTYPE:
        return tag - WIRE_LENGTH_DELIMITED + SUBMESSAGE_WIRE_TYPE
    return tag


def _states(fields: _Fields, buffer_of_node: dict[int, int]) -> tuple[bytes, bytes]:
    """The header's state machine part and the transitions, for the sequence of field kinds walked backwards."""
    sequence = fields.sequence
    if not sequence:
        return varint(1) + varint(NO_OP) + varint(0) + varint(0), b""
    following: list[Counter[int]] = [Counter() for _ in fields.kinds]
    for index in range(len(sequence) - 1, 0, -1):
        following[sequence[index]][sequence[index - 1]] += 1
    last = sequence[0]  # where the backward walk ends: its states read a transition byte, to find no more

    def implicit(kind: int) -> bool:
        return len(following[kind]) == 1 and kind != last

    # Each kind's list of states, in blocks of up to 64: a state per kind that can follow, the most frequent
    # first, and when they do not fit, a no-op state at the end of a block leading to the next block.
    state_kinds: list[int] = []  # the field kind of each state, -1 for a no-op
    state_nexts: list[int] = []  # the block a no-op leads to (other states lead to their kind's list)
    list_of: list[int] = [0] * len(fields.kinds)
    hops: dict[tuple[int, int], list[int]] = {}  # (kind, next kind): transition offsets from the kind's list
    for kind, counts in enumerate(following):
        if not counts:
            continue
        list_of[kind] = len(state_kinds)
        ranked = sorted(counts, key=lambda target: (-counts[target], target))
        for rank, target in enumerate(ranked):
            block, offset = divmod(rank, MAX_TRANSITION)
            if len(ranked) <= MAX_TRANSITION + 1:
                block, offset = 0, rank
            elif offset == 0 and block:
                state_kinds.append(-1)  # the no-op at offset 63 of the previous block
                state_nexts.append(len(state_kinds))
            hops[kind, target] = [MAX_TRANSITION] * block + [offset]
            state_kinds.append(target)
            state_nexts.append(0)
    first_kind = sequence[-1]
    first = state_kinds.index(first_kind) if first_kind in state_kinds else len(state_kinds)
    if first == len(state_kinds):  # the walk's first kind never follows another: a state of its own
        state_kinds.append(first_kind)
        state_nexts.append(0)

    count = len(state_kinds)
    tags, nexts, subtypes, buffers = bytearray(), bytearray(), bytearray(), bytearray()
    for state, kind in enumerate(state_kinds):
        if kind < 0:
            tags += varint(NO_OP)
            nexts += varint(state_nexts[state])
            continue
        tag = _state_tag(fields, kind)
        tags += varint(tag)
        nexts += varint(list_of[kind] + (count if implicit(kind) else 0))
        node, subtype = fields.kinds[kind]
        if tag >= 8 and tag & 7 == WIRE_VARINT:
            subtypes.append(subtype)
        if tag == NON_PROTO or (tag >= 8 and has_data_buffer(tag, subtype)):
            buffers += varint(buffer_of_node[node])
    states = varint(count) + tags + nexts + subtypes + buffers + varint(first)

    transitions = bytearray()
    pending = -1  # the last transition byte, not written yet: zero offsets after it raise its repeat count
    for index in range(len(sequence) - 1, 0, -1):
        kind = sequence[index]
        if implicit(kind):
            continue
        for offset in hops[kind, sequence[index - 1]]:
            if offset == 0 and pending >= 0 and pending & 3 < 3:
                pending += 1
            else:
                if pending >= 0:
                    transitions.append(pending)
                pending = offset << 2
    if pending >= 0:
        transitions.append(pending)
    return bytes(states), bytes(transitions)
