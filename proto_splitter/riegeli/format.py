"""Riegeli/records layout: block and chunk header geometry and positions."""

from __future__ import annotations

import struct

from ..errors import RiegeliError
from .highwayhash import highway_hash

BLOCK_SIZE = 1 << 16
BLOCK_HEADER_SIZE = 24
USABLE_BLOCK_SIZE = BLOCK_SIZE - BLOCK_HEADER_SIZE
CHUNK_HEADER_SIZE = 40

SIGNATURE, METADATA, PADDING, SIMPLE, TRANSPOSED = b"s"[0], b"m"[0], b"p"[0], b"r"[0], b"t"[0]


def remaining_in_block(pos: int) -> int:
    return -pos % BLOCK_SIZE


def add_with_overhead(pos: int, size: int) -> int:
    """Position after writing `size` bytes of chunk content from `pos`, counting block headers."""
    overhead_blocks = (size + (pos + USABLE_BLOCK_SIZE - 1) % BLOCK_SIZE) // USABLE_BLOCK_SIZE
    return pos + size + overhead_blocks * BLOCK_HEADER_SIZE


def round_up_to_possible_chunk_boundary(pos: int) -> int:
    return pos + max(0, remaining_in_block(pos) - (USABLE_BLOCK_SIZE - 1))


def chunk_end(chunk_begin: int, data_size: int, num_records: int) -> int:
    """Where the chunk beginning at chunk_begin ends (padding included), as the format specifies."""
    return max(
        add_with_overhead(chunk_begin, CHUNK_HEADER_SIZE + data_size),
        round_up_to_possible_chunk_boundary(chunk_begin + num_records),
    )


def chunk_end_estimate(chunk_begin: int, record_size: int) -> int:
    """An upper bound of where a chunk holding one record of record_size bytes ends, compression prefixes
    included (for fetching a remote chunk in one request)."""
    return chunk_end(chunk_begin, record_size + 64, 1)


def block_headers_between(begin: int, end: int) -> int:
    """Number of block boundaries b with begin <= b < end."""
    return (end - 1) // BLOCK_SIZE - (begin - 1) // BLOCK_SIZE if end > begin else 0


def encode_block_header(previous_chunk: int, next_chunk: int) -> bytes:
    body = struct.pack("<QQ", previous_chunk, next_chunk)
    return struct.pack("<Q", highway_hash(body)) + body


def decode_block_header(raw: bytes, pos: int) -> tuple[int, int]:
    """(previous_chunk, next_chunk) of the block header at pos; RiegeliError when its hash is wrong."""
    stored, previous_chunk, next_chunk = struct.unpack("<3Q", raw)
    if stored != highway_hash(raw[8:]):
        raise RiegeliError(f"corrupted block header at byte {pos}: header hash mismatch")
    return previous_chunk, next_chunk


class ChunkHeader:
    """The 40-byte header of a chunk."""

    __slots__ = ("chunk_type", "data_hash", "data_size", "decoded_data_size", "num_records")

    def __init__(self, data_size: int, data_hash: int, chunk_type: int, num_records: int, decoded_data_size: int):
        self.data_size, self.data_hash, self.chunk_type = data_size, data_hash, chunk_type
        self.num_records, self.decoded_data_size = num_records, decoded_data_size

    def encode(self) -> bytes:
        body = struct.pack(
            "<QQQQ", self.data_size, self.data_hash, self.chunk_type | self.num_records << 8, self.decoded_data_size
        )
        return struct.pack("<Q", highway_hash(body)) + body

    @classmethod
    def decode(cls, raw: bytes, pos: int) -> ChunkHeader:
        stored, data_size, data_hash, type_and_count, decoded = struct.unpack("<5Q", raw)
        if stored != highway_hash(raw[8:]):
            raise RiegeliError(f"corrupted chunk header at byte {pos}: header hash mismatch")
        return cls(data_size, data_hash, type_and_count & 0xFF, type_and_count >> 8, decoded)


SIGNATURE_HEADER = ChunkHeader(0, highway_hash(b""), SIGNATURE, 0, 0)
FILE_SIGNATURE = encode_block_header(0, 64) + SIGNATURE_HEADER.encode()
