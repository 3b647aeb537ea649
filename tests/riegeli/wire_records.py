"""Records for the transposed-chunk tests: protobuf messages in wire format built field by field (every wire type,
nested submessages and groups, varints of every length, big field numbers), and records that are not messages
(random bytes, non-canonical varints), as hypothesis strategies and as fixed examples."""

from __future__ import annotations

import random

from hypothesis import strategies as st

from proto_splitter.riegeli.varint import varint


def field(number: int, wire: int, payload: bytes = b"") -> bytes:
    return varint(number << 3 | wire) + payload


def length_delimited(number: int, value: bytes) -> bytes:
    return field(number, 2, varint(len(value)) + value)


field_numbers = st.one_of(st.integers(1, 20), st.integers(1, (1 << 29) - 1))
varint_values = st.one_of(st.integers(0, 3), st.integers(0, 200), st.integers(0, (1 << 64) - 1))


@st.composite
def message_fields(draw: st.DrawFn, depth: int = 0) -> bytes:
    """One field of a message: a scalar, a string, a nested message, or a group."""
    number = draw(field_numbers)
    kinds = ["varint", "fixed32", "fixed64", "string", "empty"] + (["message", "group"] if depth < 3 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "varint":
        return field(number, 0, varint(draw(varint_values)))
    if kind in ("fixed32", "fixed64"):
        size = 4 if kind == "fixed32" else 8
        return field(number, 5 if size == 4 else 1, draw(st.binary(min_size=size, max_size=size)))
    if kind == "string":
        return length_delimited(number, draw(st.binary(max_size=40)))
    if kind == "empty":
        return length_delimited(number, b"")
    inner = b"".join(draw(st.lists(message_fields(depth + 1), min_size=1, max_size=5)))
    if kind == "message":
        return length_delimited(number, inner)
    return field(number, 3) + inner + field(number, 4)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    return b"".join(draw(st.lists(message_fields(), max_size=8)))


def non_canonical(record: bytes) -> bytes:
    """A message whose first tag has a redundant continuation byte: parsers accept it, transposing must not
    split it into fields (the bytes would change), so it is stored whole."""
    return bytes([record[0] | 0x80, 0x00]) + record[1:] if record and record[0] < 0x80 else b"\x88\x00\x01"


records = st.lists(
    st.one_of(
        messages(),
        messages(),
        st.binary(max_size=60),
        messages().map(non_canonical),
        st.just(b""),
    ),
    max_size=30,
)


def deep_message(depth: int) -> bytes:
    """A message nested `depth` levels deep (Google's encoder stores levels past 100 as strings)."""
    record = field(1, 0, varint(7))
    for level in range(depth):
        record = length_delimited(level % 3 + 1, record + field(2, 0, varint(level)))
    return record


def message_of_size(size: int, seed: int) -> bytes:
    """A message of about `size` bytes: a few scalar fields and strings, and a nested message."""
    rng = random.Random(seed)
    head = field(1, 0, varint(rng.randint(0, 1 << 40))) + field(2, 5, rng.randbytes(4)) + field(4, 0, varint(2))
    inner = length_delimited(3, length_delimited(1, b"inner") + field(2, 0, varint(seed)))
    filler = max(0, size - len(head) - len(inner) - 6)
    return head + inner + length_delimited(5, rng.randbytes(filler))


def sample_records(count: int, seed: int = 0) -> list[bytes]:
    """A fixed mix of messages of a few shapes (repeated structure, as real records have), odd ones, and
    non-messages."""
    rng = random.Random(seed)
    out = []
    for index in range(count):
        shape = index % 7
        if shape < 4:
            name = f"node_{index}".encode()
            values = b"".join(field(3, 5, rng.randbytes(4)) for _ in range(rng.randint(0, 6)))
            attr = length_delimited(1, b"T") + length_delimited(2, field(6, 0, varint(rng.randint(0, 300))) + values)
            out.append(length_delimited(1, name) + length_delimited(2, b"Const") + length_delimited(5, attr))
        elif shape == 4:
            out.append(rng.randbytes(rng.randint(0, 80)))
        elif shape == 5:
            out.append(field(9, 3) + field(1, 1, rng.randbytes(8)) + field(9, 4) + field(2, 0, varint(1 << 63)))
        else:
            out.append(deep_message(rng.choice([2, 99, 100, 101, 130])))
    return out
