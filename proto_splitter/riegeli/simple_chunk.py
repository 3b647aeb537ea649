"""Simple chunks ('r'): record sizes and concatenated values, each buffer possibly compressed."""

from __future__ import annotations

from ..errors import RiegeliError
from .compression import NONE, compress_parts, decompress
from .sources import Bytes, Records
from .varint import read_varint, varint


def encode(records: list[Bytes], kind: int, level: int | None, window_log: int | None) -> tuple[list[Bytes], int]:
    """Chunk data for `records` (bytes-like) as a list of parts whose concatenation it is; returns (parts, decoded
    size). Uncompressed, the records are parts themselves: no copy of the values."""
    sizes = b"".join(varint(len(record)) for record in records)
    decoded_size = sum(len(record) for record in records)
    if kind == NONE:
        return [b"\x00" + varint(len(sizes)) + sizes, *records], decoded_size
    values = records[0] if len(records) == 1 else b"".join(records)
    compressed_sizes = compress_parts(kind, sizes, level, window_log)
    sizes_length = sum(len(part) for part in compressed_sizes)
    head = [bytes([kind]), varint(sizes_length), *compressed_sizes]
    return [*head, *compress_parts(kind, values, level, window_log)], decoded_size


def decode(data: Bytes, num_records: int, decoded_size: int, pos: int) -> Records:
    """The records of a simple chunk's data, checked against the header's counts; pos names the chunk."""
    if not data:
        raise RiegeliError(f"simple chunk at byte {pos} has no data")
    kind = data[0]
    sizes_length, start = read_varint(data, 1, pos)
    if start + sizes_length > len(data):
        raise RiegeliError(f"simple chunk at byte {pos}: sizes ({sizes_length} bytes) run past its data")
    view = memoryview(data)
    sizes = decompress(kind, view[start : start + sizes_length], pos)
    values = decompress(kind, view[start + sizes_length :], pos)
    if len(values) != decoded_size:
        raise RiegeliError(f"simple chunk at byte {pos}: {len(values)} bytes of values, header says {decoded_size}")
    bounds, offset, cursor = [0], 0, 0
    for _ in range(num_records):
        size, cursor = read_varint(sizes, cursor, pos)
        offset += size
        if offset > decoded_size:
            raise RiegeliError(f"simple chunk at byte {pos}: record sizes exceed the decoded size")
        bounds.append(offset)
    if cursor != len(sizes) or offset != decoded_size:
        raise RiegeliError(f"simple chunk at byte {pos}: record sizes do not match the header")
    return values, bounds
