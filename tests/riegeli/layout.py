"""An independent walker over a Riegeli/records file's layout, written from the format specification (not from
the codec), used by the tests to know where chunks, headers, data and padding lie."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

BLOCK_SIZE = 1 << 16
BLOCK_HEADER_SIZE = 24
CHUNK_HEADER_SIZE = 40
SIGNATURE_SIZE = 64


@dataclass
class Chunk:
    begin: int
    end: int
    chunk_type: str
    num_records: int
    header_bytes: list[int] = field(default_factory=list)  # file offsets of the 40 chunk header bytes
    data_bytes: list[int] = field(default_factory=list)  # file offsets of the data bytes (data_size of them)
    padding_bytes: list[int] = field(default_factory=list)  # offsets after the data up to the chunk's end
    block_headers: list[int] = field(default_factory=list)  # block boundaries b with begin <= b < end


def _content_offsets(begin: int, count: int) -> tuple[list[int], int]:
    """File offsets of `count` content bytes written from `begin`, skipping block headers."""
    offsets, pos = [], begin
    while len(offsets) < count:
        if pos % BLOCK_SIZE == 0:
            pos += BLOCK_HEADER_SIZE
        take = min(count - len(offsets), BLOCK_SIZE - pos % BLOCK_SIZE)
        offsets.extend(range(pos, pos + take))
        pos += take
    return offsets, pos


def _content_end(begin: int, count: int) -> int:
    """Position after `count` (> 0) content bytes written from `begin`, skipping block headers (a boundary
    reached by the last byte is not followed by its header yet)."""
    pos = begin
    while count:
        if pos % BLOCK_SIZE == 0:
            pos += BLOCK_HEADER_SIZE
        take = min(count, BLOCK_SIZE - pos % BLOCK_SIZE)
        pos += take
        count -= take
    return pos


def chunk_end(begin: int, data_size: int, num_records: int) -> int:
    """The spec's chunk end: after header + data with block headers interleaved, but at least
    begin + num_records, moved past a block header."""
    after = _content_end(begin, CHUNK_HEADER_SIZE + data_size)  # content ending on a boundary ends there
    least = begin + num_records
    if 0 < least % BLOCK_SIZE <= BLOCK_HEADER_SIZE:
        # a chunk boundary is never inside nor immediately after a block header
        least += BLOCK_HEADER_SIZE + 1 - least % BLOCK_SIZE
    return max(after, least)


def walk(data: bytes) -> list[Chunk]:
    """Chunks of a well-formed file, the file signature first."""
    chunks, begin = [], 0
    while begin < len(data):
        header_offsets, _ = _content_offsets(begin, CHUNK_HEADER_SIZE)
        header = bytes(data[i] for i in header_offsets)
        _hash, data_size, _data_hash, type_and_count, _decoded = struct.unpack("<5Q", header)
        num_records = type_and_count >> 8
        end = chunk_end(begin, data_size, num_records)
        all_content, _ = _content_offsets(begin, CHUNK_HEADER_SIZE + data_size)
        blocks = [b for b in range(begin - begin % BLOCK_SIZE, end, BLOCK_SIZE) if begin <= b < end]
        covered = set(all_content)
        covered.update(i for b in blocks for i in range(b, b + BLOCK_HEADER_SIZE))
        padding = [i for i in range(begin, end) if i not in covered]
        chunks.append(
            Chunk(
                begin,
                end,
                chr(type_and_count & 0xFF),
                num_records,
                all_content[:CHUNK_HEADER_SIZE],
                all_content[CHUNK_HEADER_SIZE:],
                padding,
                blocks,
            )
        )
        begin = end
    return chunks
