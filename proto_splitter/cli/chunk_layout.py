"""Where records live in a Riegeli file, from block and chunk headers only (no chunk data is read or
hashed): the chunk holding a numeric record position, its type, record count and compression.

This is what makes `info` instant on files of any size: one 40-byte header (and perhaps one block header)
per ChunkInfo, read by positioned reads (a local file, or a remote one by ranged requests)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import RiegeliError
from ..riegeli.compression import NAMES
from ..riegeli.format import (
    BLOCK_HEADER_SIZE,
    BLOCK_SIZE,
    CHUNK_HEADER_SIZE,
    METADATA,
    PADDING,
    SIGNATURE,
    SIMPLE,
    TRANSPOSED,
    ChunkHeader,
    chunk_end,
    decode_block_header,
)
from ..riegeli.sources import BorrowedSource, PathSource

CHUNK_KINDS = {
    SIMPLE: "simple",
    TRANSPOSED: "transposed",
    PADDING: "padding",
    SIGNATURE: "signature",
    METADATA: "file metadata",
}


@dataclass(frozen=True)
class ChunkSummary:
    """One Riegeli chunk, described by its header."""

    begin: int
    end: int
    kind: str
    num_records: int
    data_size: int
    decoded_size: int
    compression: str | None

    def to_json(self) -> dict:
        return {
            "begin": self.begin,
            "end": self.end,
            "kind": self.kind,
            "records": self.num_records,
            "data_size": self.data_size,
            "decoded_size": self.decoded_size,
        }


class ChunkLayout:
    """Reads chunk headers of a Riegeli file: a path, or a positioned reader (`size()`, `read_into(pos, out)`)
    that stays open when the layout is closed."""

    def __init__(self, source: str | os.PathLike[str] | Any):
        self._source = PathSource(source) if isinstance(source, (str, os.PathLike)) else BorrowedSource(source)
        self._size = self._source.size()
        self._cache: dict[int, ChunkSummary] = {}

    def __enter__(self) -> ChunkLayout:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._source.close()

    @property
    def size(self) -> int:
        return self._size

    def _content(self, position: int, count: int) -> tuple[bytes, int]:
        """`count` bytes of chunk content from `position`, stepping over block headers."""
        parts = []
        while count > 0:
            if position % BLOCK_SIZE == 0:
                position += BLOCK_HEADER_SIZE
            take = min(count, BLOCK_SIZE - position % BLOCK_SIZE)
            part = self._source.read(position, take)
            if len(part) != take:
                raise RiegeliError(f"truncated file: chunk content at byte {position} runs past the end")
            parts.append(part)
            count -= take
            position += take
        return b"".join(parts), position

    def chunk_at(self, begin: int) -> ChunkSummary:
        """The chunk beginning at byte `begin` (RiegeliError if no valid chunk header is there)."""
        summary = self._cache.get(begin)
        if summary is not None:
            return summary
        if begin >= self._size:
            raise RiegeliError(f"byte {begin} is past the end of the file ({self._size} bytes)")
        raw, after = self._content(begin, CHUNK_HEADER_SIZE)
        header = ChunkHeader.decode(raw, begin)
        compression = None
        if header.data_size and header.chunk_type in (SIMPLE, TRANSPOSED):
            first, _ = self._content(after, 1)
            compression = NAMES.get(first[0], f"unknown ({first[0]:#04x})")
        summary = ChunkSummary(
            begin,
            chunk_end(begin, header.data_size, header.num_records),
            CHUNK_KINDS.get(header.chunk_type, f"unknown ({header.chunk_type:#04x})"),
            header.num_records,
            header.data_size,
            header.decoded_data_size,
            compression,
        )
        self._cache[begin] = summary
        return summary

    def chunk_holding(self, position: int) -> ChunkSummary:
        """The chunk holding the record at numeric `position` (chunk begin + record index): a chunk beginning
        right there, else the one the block header before `position` points into, walking chunk headers."""
        if not 0 <= position < self._size:
            raise RiegeliError(f"position {position} is outside the file ({self._size} bytes)")
        try:
            summary = self.chunk_at(position)
            if summary.num_records:
                return summary
        except RiegeliError:
            pass
        block = position - position % BLOCK_SIZE
        begin = 0
        if block:
            raw = self._source.read(block, BLOCK_HEADER_SIZE)
            if len(raw) != BLOCK_HEADER_SIZE:
                raise RiegeliError(f"truncated file: block header at byte {block} is incomplete")
            previous_chunk, _ = decode_block_header(bytes(raw), block)
            begin = block - previous_chunk
        while True:
            summary = self.chunk_at(begin)
            if position < summary.end:
                if not summary.begin <= position < summary.begin + max(summary.num_records, 1):
                    raise RiegeliError(
                        f"no record at position {position}: the chunk at byte {summary.begin} "
                        f"holds {summary.num_records} records"
                    )
                return summary
            if summary.end <= begin:
                raise RiegeliError(f"corrupted chunk header at byte {begin}")
            begin = summary.end
