"""Reading the records of an opened `.cpb` whole or in part, checked against the file's index.

A record is the contents of a chunk (ChunkInfo.size bytes at its numeric position), or a record of the index
that no ChunkInfo names (a key table). The index holds a hash of every record, or of every `span_size` bytes of a
big one. A big record is read in part straight from the file where the library writes it, alone in an
uncompressed Riegeli chunk (its bytes follow the 40-byte chunk header and the record's size, with a block header
every 64 KiB), and each span read is checked against its hash: reading 60 bytes of a 2 GiB chunk costs one span.
When a span's bytes do not match, the record is read through the Riegeli reader instead (which checks its
chunk's own hash: a compressed chunk, or damage), and then checked against the index's hashes: so an index never
describes bytes it was not made for, and a damaged byte never goes unnoticed. The bytes of a plain `.pb` are one
record, read in part directly.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from . import files, riegeli
from .errors import ChunkedProtoError, RiegeliError
from .index import Index, IndexMismatchError, span_count
from .index_builder import UNHASHED
from .proto import chunk_pb2
from .riegeli.format import BLOCK_HEADER_SIZE, BLOCK_SIZE, CHUNK_HEADER_SIZE
from .riegeli.highwayhash import highway_hash
from .riegeli.varint import varint

CACHE_BYTES = 64 << 20  # whole records kept for later reads (each at most a quarter of it)
Prefetch = Callable[[list[tuple[int, int]]], None]
_USABLE = BLOCK_SIZE - BLOCK_HEADER_SIZE


def content_position(begin: int, offset: int) -> int:
    """The file position of byte `offset` of the contents of the Riegeli chunk beginning at `begin` (its header
    first), past the block headers written at every multiple of BLOCK_SIZE from `begin` on."""
    into_block = begin % BLOCK_SIZE
    first = BLOCK_SIZE - (into_block or BLOCK_HEADER_SIZE)  # contents in the chunk's first block
    if offset < first:
        return begin + (BLOCK_HEADER_SIZE if not into_block else 0) + offset
    blocks, rest = divmod(offset - first, _USABLE)
    return begin - into_block + BLOCK_SIZE * (1 + blocks) + BLOCK_HEADER_SIZE + rest


@dataclass
class _Record:
    """A record the index describes: where, how big, and its hashes (span hashes, or one of the whole)."""

    offset: int
    size: int
    spans: npt.NDArray[np.uint64] | None
    whole: int | None
    direct: bool = True  # whether its bytes are where an uncompressed chunk of its own puts them (until refuted)


class _Mismatch(Exception):
    """A span read straight from the file does not match its hash."""


class RecordAccess:
    """The records of one opened file, read whole or in part and checked against `index` (None: only Riegeli's
    own checks). `raw` is a byte source over the file (riegeli.sources.open_source), `reader` a Riegeli reader
    over it and `infos` its chunks; for a plain `.pb`, `reader` is None and `infos` one ChunkInfo of the file's
    size. `prefetch` announces byte ranges about to be read (a remote file fetches them in one request). Safe to
    use from several threads."""

    def __init__(
        self,
        raw,
        reader: riegeli.RecordReader | None,
        infos: Sequence[chunk_pb2.ChunkInfo],
        index: Index | None,
        prefetch: Prefetch | None = None,
    ):
        self._raw, self._reader, self.infos, self.index, self._prefetch = raw, reader, infos, index, prefetch
        self._reader_lock = threading.Lock()
        # a file object is shared with the reader (one position): the same lock serializes both
        self._raw_lock = None if getattr(raw, "concurrent_reads", False) else self._reader_lock
        self._cache: OrderedDict[int, bytes | memoryview] = OrderedDict()
        self._cached_bytes = 0
        self._cache_lock = threading.Lock()
        self._records: dict[int, _Record] = {}

    def __len__(self) -> int:
        return len(self.infos)

    def size(self, chunk: int) -> int:
        """The size of record `chunk` (as its ChunkInfo says; checked when it is read)."""
        return int(self.infos[chunk].size)

    def close(self) -> None:
        """Closes the byte source (the reader is its owner's to close)."""
        self._raw.close()

    def _chunk_record(self, chunk: int) -> _Record:
        found = self._records.get(chunk)
        if found is None:
            info, index = self.infos[chunk], self.index
            spans = whole = None
            if index is not None and index.first_span[chunk] != UNHASHED:
                if span_count(int(info.size), index.span_size):
                    spans = index.spans_of(chunk, int(info.size))
                else:
                    whole = index.record_hash(chunk)
            found = self._records[chunk] = _Record(int(info.offset), int(info.size), spans, whole)
        return found

    # ---- chunks ------------------------------------------------------------------------------------------

    def record(self, chunk: int) -> bytes | memoryview:
        """The bytes of record `chunk`, checked."""
        with self._cache_lock:
            if chunk in self._cache:
                self._cache.move_to_end(chunk)
                return self._cache[chunk]
        data = self._whole(self._chunk_record(chunk), chunk)
        if len(data) <= CACHE_BYTES // 4:
            with self._cache_lock:
                self._cache[chunk] = data
                self._cached_bytes += len(data)
                while self._cached_bytes > CACHE_BYTES:
                    _, dropped = self._cache.popitem(last=False)
                    self._cached_bytes -= len(dropped)
        return data

    def read(self, chunk: int, start: int, end: int, into: memoryview | None = None) -> memoryview:
        """Bytes [start, end) of record `chunk`, checked (into `into`, which must hold end - start bytes, when
        given: read straight into it when possible). Reads only the spans they touch when the record has span
        hashes, else the whole record."""
        record = self._chunk_record(chunk)
        if not 0 <= start <= end <= record.size:
            raise ChunkedProtoError(f"bytes {start}-{end} are outside chunk {chunk} ({record.size} bytes)")
        if record.spans is not None and record.direct:
            with self._cache_lock:
                cached = self._cache.get(chunk)
            if cached is None:
                try:
                    return self._read_spans(record, start, end, into)
                except _Mismatch:
                    record.direct = False  # a compressed or shared chunk, or damage: the reader will tell
        part = memoryview(self.record(chunk))[start:end]
        if into is None:
            return part
        into[: end - start] = part
        return into[: end - start]

    def scan(self, chunk: int, consumer: Callable[[memoryview], None]) -> None:
        """Calls `consumer` with the bytes of record `chunk`, valid only during the call (no copy, no cache: for
        reading every record once, as scanning a file without an index does)."""
        if self._reader is None:
            consumer(memoryview(self._whole(self._chunk_record(chunk), chunk)))
            return
        info = self.infos[chunk]
        self._announce([(int(info.offset), riegeli.chunk_end_estimate(int(info.offset), int(info.size)))])
        with self._reader_lock:
            self._reader.seek_numeric(info.offset)
            record = self._reader.read_record(copy=False)
            if record is None or len(record) != info.size:
                raise ChunkedProtoError(f"chunk {chunk} at position {info.offset} is missing or of the wrong size")
            consumer(memoryview(record))

    # ---- records no ChunkInfo names ----------------------------------------------------------------------

    def read_record(self, offset: int, size: int, spans: npt.NDArray[np.uint64], start: int, end: int) -> memoryview:
        """Bytes [start, end) of a record of the index (a key table) at numeric position `offset`, of `size`
        bytes, with span hashes `spans` (one hash of the whole record when it is shorter than a span)."""
        assert self.index is not None
        if not 0 <= start <= end <= size:
            raise ChunkedProtoError(f"bytes {start}-{end} are outside the record at {offset} ({size} bytes)")
        key = -1 - offset  # never a chunk index
        if key not in self._records:
            big = size >= self.index.span_size
            self._records[key] = _Record(offset, size, spans if big else None, None if big else int(spans[0]))
        record = self._records[key]
        if record.spans is not None and record.direct:
            try:
                return self._read_spans(record, start, end, None)
            except _Mismatch:
                record.direct = False
        return memoryview(self._whole(record, None))[start:end]

    # ---- reading and checking ----------------------------------------------------------------------------

    def _whole(self, record: _Record, chunk: int | None) -> bytes | memoryview:
        """A record read whole: through the reader (or, with span hashes, straight from the file), checked."""
        if record.spans is not None and record.direct:
            try:
                return self._read_spans(record, 0, record.size, None)
            except _Mismatch:
                record.direct = False
        if self._reader is None:  # a plain .pb: the file
            data: bytes | memoryview = memoryview(bytearray(record.size))
            self._read_raw(0, data)  # type: ignore[arg-type]
        else:
            self._announce([(record.offset, riegeli.chunk_end_estimate(record.offset, record.size))])
            with self._reader_lock:
                if chunk is not None:
                    data = files.RiegeliChunks(self._reader, self.infos).get(chunk)
                else:
                    self._reader.seek_numeric(record.offset)
                    data = self._reader.read_record() or b""
        name = f"chunk {chunk}" if chunk is not None else f"the record at {record.offset}"
        if len(data) != record.size:
            raise IndexMismatchError(f"{name} has {len(data)} bytes, the index expects {record.size}")
        if record.whole is not None and highway_hash(data) != record.whole:
            raise IndexMismatchError(f"{name} does not match the index's hash of it")
        if record.spans is not None:
            view, span_size = memoryview(data), self._span_size()
            for span, hash_value in enumerate(record.spans.tolist()):
                if highway_hash(view[span * span_size : (span + 1) * span_size]) != hash_value:
                    raise IndexMismatchError(f"span {span} of {name} does not match the index's hash of it")
        return data

    def _span_size(self) -> int:
        assert self.index is not None
        return self.index.span_size

    def _read_spans(self, record: _Record, start: int, end: int, into: memoryview | None) -> memoryview:
        """Bytes [start, end) read straight from the file, span by span, each checked (_Mismatch otherwise)."""
        assert record.spans is not None
        span_size = self._span_size()
        low, high = start - start % span_size, min(record.size, -(-end // span_size) * span_size)
        self._announce([(self._position(record, low), self._position(record, high))])
        out = memoryview(bytearray(end - start)) if into is None else into[: end - start]
        for span in range(low // span_size, -(-high // span_size)):
            begin, finish = span * span_size, min(record.size, (span + 1) * span_size)
            whole = start <= begin and finish <= end  # the whole span is wanted: straight into the output
            target = out[begin - start : finish - start] if whole else memoryview(bytearray(finish - begin))
            self._read_contents(record, begin, target)
            if highway_hash(target) != int(record.spans[span]):
                raise _Mismatch
            if not whole:
                a, b = max(start, begin), min(end, finish)
                out[a - start : b - start] = target[a - begin : b - begin]
        return out

    def _position(self, record: _Record, offset: int) -> int:
        """The file position of a record's byte `offset` (where an uncompressed chunk of its own puts it)."""
        if self._reader is None:
            return offset
        prefix = 1 + len(varint(len(varint(record.size)))) + len(varint(record.size))  # compression, sizes
        return content_position(record.offset, CHUNK_HEADER_SIZE + prefix + offset)

    def _read_contents(self, record: _Record, offset: int, out: memoryview) -> None:
        """Reads record bytes from `offset` into `out`, block by block around the block headers."""
        filled = 0
        while filled < len(out):
            position = self._position(record, offset + filled)
            take = len(out) - filled if self._reader is None else BLOCK_SIZE - position % BLOCK_SIZE
            take = min(len(out) - filled, take)
            if position + take > self._raw.size():
                raise _Mismatch
            self._read_raw(position, out[filled : filled + take])
            filled += take

    def _read_raw(self, position: int, out: memoryview) -> None:
        if self._raw_lock is None:
            got = self._raw.read_into(position, out)
        else:
            with self._raw_lock:
                got = self._raw.read_into(position, out)
        if got != len(out):
            raise RiegeliError(f"truncated file: expected {len(out)} bytes at byte {position}, found {got}")

    def _announce(self, ranges: list[tuple[int, int]]) -> None:
        if self._prefetch is not None:
            self._prefetch(ranges)
