"""Reading the records of an opened `.cpb` whole or in part, checked against the file's index.

A record is the contents of a chunk (ChunkInfo.size bytes at its numeric position), or a record of the index
that no ChunkInfo names (a key table). The index holds a hash of every record, or of every `span_size` bytes of a
big one. A big record is read in part straight from the file where the library writes it, alone in an
uncompressed Riegeli chunk (its bytes follow the 40-byte chunk header and the record's size, with a block header
every 64 KiB), and each span read is checked against its hash: reading 60 bytes of a 2 GiB chunk costs one span.
When a span's bytes do not match, the record is read through the Riegeli reader instead (which checks its
chunk's own hash: a compressed chunk, or damage), and then checked against the index's hashes: so an index never
describes bytes it was not made for, and a damaged byte never goes unnoticed. Whole spans of a local file are read
and checked in one C call (_pread_bytes.pread_checked, hashing each window while the CPU's cache holds it), else
read, then hashed span by span. The bytes of a plain `.pb` are one record, read in part directly.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from . import files, riegeli
from .errors import ChunkedProtoError, RiegeliError
from .index import Index, IndexMismatchError
from .proto import chunk_pb2
from .riegeli.compression import NONE
from .riegeli.format import BLOCK_HEADER_SIZE, BLOCK_SIZE, CHUNK_HEADER_SIZE, SIMPLE, ChunkHeader
from .riegeli.highwayhash import RIEGELI_KEY, highway_hash, streaming_hasher
from .riegeli.sources import open_source
from .riegeli.varint import varint

try:
    from . import _pread_bytes  # type: ignore[attr-defined]
except ImportError:  # the optional extension was not built (no compiler, or no preadv)
    _pread_bytes = None

CACHE_BYTES = 64 << 20  # whole records kept for later reads (each at most a quarter of it)
DIRECT_SCAN = 1 << 20  # records scanned straight from the file from this size on
SCAN_WINDOW = 1 << 20  # bytes of a record read at a time when it is scanned in pieces (the CPU's cache holds them)
Hashes = npt.NDArray[np.uint64]
Prefetch = Callable[[list[tuple[int, int]]], contextlib.AbstractContextManager[object]]
_USABLE = BLOCK_SIZE - BLOCK_HEADER_SIZE


def _buffer(size: int) -> memoryview:
    """Memory for `size` bytes about to be overwritten (not zeroed first: touching fresh pages costs as much as
    reading into them)."""
    return np.empty(size, dtype=np.uint8).data


def content_position(begin: int, offset: int) -> int:
    """The file position of byte `offset` of the contents of the Riegeli chunk beginning at `begin` (its header
    first), past the block headers written at every multiple of BLOCK_SIZE from `begin` on."""
    into_block = begin % BLOCK_SIZE
    first = BLOCK_SIZE - (into_block or BLOCK_HEADER_SIZE)  # contents in the chunk's first block
    if offset < first:
        return begin + (BLOCK_HEADER_SIZE if not into_block else 0) + offset
    blocks, rest = divmod(offset - first, _USABLE)
    return begin - into_block + BLOCK_SIZE * (1 + blocks) + BLOCK_HEADER_SIZE + rest


class RawFile:
    """Positioned reads of a file's bytes: a local path (vectored preadv, from several threads at once), bytes, or
    a seekable binary file object or positioned reader (a remote file) at the file's first byte (through
    riegeli.sources, one read at a time, one read per range: for a remote file, one request)."""

    IOV_MAX = 1000

    def __init__(self, source: files.Source):
        self._fd = -1
        self._view: memoryview | None = None
        self.lock: threading.Lock | None = None  # for a file object: held around each read (share it with its reader)
        if isinstance(source, (str, os.PathLike)):
            self._fd = os.open(source, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            self._size = os.fstat(self._fd).st_size
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self._view = memoryview(source).cast("B")
            self._size = len(self._view)
        else:
            self._source = open_source(source)
            size = self._source.size()
            if size is None:
                raise RiegeliError("parts of a stream cannot be read: its size is unknown")
            self._size = size
            self.lock = threading.Lock()

    def size(self) -> int:
        """The file's size in bytes."""
        return self._size

    def readv(self, position: int, buffers: list[memoryview]) -> None:
        """Fills `buffers` with the file's bytes from `position` on, in order (RiegeliError when it ends first)."""
        wanted = sum(len(buffer) for buffer in buffers)
        if position + wanted > self._size:
            raise RiegeliError(f"truncated file: expected {wanted} bytes at byte {position} ({self._size} bytes)")
        if self._fd >= 0:
            for first in range(0, len(buffers), self.IOV_MAX):
                group = buffers[first : first + self.IOV_MAX]
                size = sum(len(buffer) for buffer in group)
                done = os.preadv(self._fd, group, position)
                if done != size:  # a short read (rare): the rest one buffer at a time
                    self._read_rest(group, position, done)
                position += size
            return
        if self._view is None:  # one read of the whole range (for a remote file, one request), then spread
            whole = _buffer(wanted) if len(buffers) > 1 else buffers[0]
            assert self.lock is not None
            with self.lock:
                got = self._source.read_into(position, whole)
            if got != wanted:
                raise RiegeliError(f"truncated file: expected {wanted} bytes at byte {position}")
            if len(buffers) == 1:
                return
            view, position = whole, 0
        else:
            view = self._view
        for buffer in buffers:
            buffer[:] = view[position : position + len(buffer)]
            position += len(buffer)

    def read_bytes(self, position: int, pieces: list[int]) -> bytes | None:
        """The file's bytes from `position` on, piece by piece (a positive length kept, a negative one left out),
        as one new bytes object filled by the read itself: no copy after it (a protobuf setter copies it once
        more). None when this is no local file or the C helper was not built. RiegeliError when the file ends
        first."""
        if self._fd < 0 or _pread_bytes is None or not hasattr(_pread_bytes, "pread_bytes"):
            return None
        data: bytes | None = _pread_bytes.pread_bytes(self._fd, position, pieces)
        if data is None:
            raise RiegeliError(f"truncated file: it ends before the bytes wanted from byte {position}")
        return data

    def read_checked(self, position: int, pieces: list[int], out: memoryview, span: int, hashes: Hashes) -> bool | None:
        """Reads the file's bytes from `position` on, piece by piece as `read_bytes` does, into `out` (their size),
        each `span` bytes checked against the next of `hashes` while the CPU's cache still holds them: whether all
        match (False also when the file ends first). None when this is no local file or the C helper is not
        available (not built, or no AVX2)."""
        if self._fd < 0 or _pread_bytes is None or not hasattr(_pread_bytes, "pread_checked"):
            return None
        matched: bool = _pread_bytes.pread_checked(self._fd, position, pieces, out, span, hashes, RIEGELI_KEY)
        return matched

    def _read_rest(self, group: list[memoryview], position: int, done: int) -> None:
        for buffer in group:
            if done >= len(buffer):
                done -= len(buffer)
            else:
                filled = done
                while filled < len(buffer):
                    count = os.preadv(self._fd, [buffer[filled:]], position + filled)
                    if count <= 0:
                        raise RiegeliError(f"truncated file: no bytes at byte {position + filled}")
                    filled += count
                done = 0
            position += len(buffer)

    def close(self) -> None:
        """Closes what it opened (a path's descriptor, or the byte source over a file object)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        elif self._view is None:
            self._source.close()


@dataclass
class _Record:
    """A record the index describes: where, how big, and the hashes it is checked with, one per `span` bytes (a
    span of its size: one hash of the whole), or None (no hash: only the reader's checks)."""

    offset: int
    size: int
    span: int
    hashes: npt.NDArray[np.uint64] | None
    direct: bool = True  # whether its bytes are where an uncompressed chunk of its own puts them (until refuted)

    @functools.cached_property
    def start(self) -> int:
        """Where its bytes begin in an uncompressed chunk of its own: past the chunk header, the compression type
        and the record's size (and its size's size)."""
        return CHUNK_HEADER_SIZE + 1 + len(varint(len(varint(self.size)))) + len(varint(self.size))


class _Mismatch(Exception):
    """A span read straight from the file does not match its hash."""


class RecordAccess:
    """The records of one opened file, read whole or in part and checked against `index` (None: only Riegeli's
    own checks). `raw` reads the file's bytes, `reader` is a Riegeli reader over it and `infos` its chunks; for a
    plain `.pb`, `reader` is None and `infos` one ChunkInfo of the file's size. `prefetch` announces byte ranges
    about to be read (a remote file fetches them in one request). Safe to use from several threads."""

    def __init__(
        self,
        raw: RawFile,
        reader: riegeli.RecordReader | None,
        infos: Sequence[chunk_pb2.ChunkInfo],
        index: Index | None,
        prefetch: Prefetch | None = None,
    ):
        self._raw, self._reader, self.infos, self.index, self._prefetch = raw, reader, infos, index, prefetch
        self._reader_lock = threading.Lock()
        if raw.lock is not None:  # a file object shared with the reader (one position): one lock for both
            raw.lock = self._reader_lock
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
        """Closes the file's bytes (the reader is its owner's to close)."""
        self._raw.close()

    def _chunk_record(self, chunk: int) -> _Record:
        found = self._records.get(chunk)
        if found is None:
            info = self.infos[chunk]
            hashes = self.index.hashes_of(chunk, int(info.size)) if self.index is not None else None
            span, values = hashes if hashes is not None else (max(1, int(info.size)), None)
            found = self._records[chunk] = _Record(int(info.offset), int(info.size), span, values)
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
        if record.hashes is not None and record.direct:
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
        """Calls `consumer` with the bytes of record `chunk`, valid only during the call (no cache: for reading
        every record once, as scanning a file without an index does). A big record alone in its chunk is read
        straight from the file in one vectored read (the reader's block by block reads cost as much as hashing)."""
        if self._reader is None:
            consumer(memoryview(self._whole(self._chunk_record(chunk), chunk)))
            return
        info = self.infos[chunk]
        header = self._chunk_alone(chunk) if info.size >= DIRECT_SCAN and self._prefetch is None else None
        if header is not None:
            data = _buffer(header.data_size)
            self._read_chunk_data(int(info.offset), CHUNK_HEADER_SIZE, data)
            with ThreadPoolExecutor(1) as pool:  # checked while the consumer reads it: both release the GIL
                checked = pool.submit(highway_hash, data)
                consumer(data[len(data) - int(info.size) :])
                self._check_data_hash(int(info.offset), header, checked.result())
            return
        announced = self._announce([(int(info.offset), riegeli.chunk_end_estimate(int(info.offset), int(info.size)))])
        with announced, self._reader_lock:
            self._reader.seek_numeric(info.offset)
            record = self._reader.read_record(copy=False)
            if record is None or len(record) != info.size:
                raise ChunkedProtoError(f"chunk {chunk} at position {info.offset} is missing or of the wrong size")
            consumer(memoryview(record))

    def scan_pieces(self, chunk: int, consumer: Callable[[memoryview], None]) -> None:
        """Calls `consumer` with the bytes of record `chunk` in order, in pieces each valid only during its call
        (bounded memory: for reading every record once, as scanning a file without an index does). A big record
        alone in an uncompressed chunk is read straight from the file SCAN_WINDOW bytes at a time into one buffer
        (never all of it in memory, no fresh memory per byte), its chunk's hash computed on the way and checked at
        the end (RiegeliError: the caller drops what the consumer made of it); else `scan` (one piece)."""
        info = self.infos[chunk]
        hasher = streaming_hasher()
        usable = self._reader is not None and info.size >= DIRECT_SCAN and self._prefetch is None
        header = self._chunk_alone(chunk) if usable and hasher is not None else None
        if header is None or hasher is None:
            self.scan(chunk, consumer)
            return
        begin, size = int(info.offset), int(info.size)
        prefix = header.data_size - size
        window = _buffer(min(SCAN_WINDOW, max(size, prefix)))
        self._read_chunk_data(begin, CHUNK_HEADER_SIZE, window[:prefix])
        hasher.update(window[:prefix])
        for offset in range(0, size, len(window)):
            piece = window[: min(len(window), size - offset)]
            self._read_chunk_data(begin, CHUNK_HEADER_SIZE + prefix + offset, piece)
            hasher.update(piece)
            consumer(piece)
        self._check_data_hash(begin, header, hasher.digest())

    # ---- records no ChunkInfo names ----------------------------------------------------------------------

    def read_record(self, offset: int, size: int, spans: npt.NDArray[np.uint64], start: int, end: int) -> memoryview:
        """Bytes [start, end) of a record of the index (a key table) at numeric position `offset`, of `size`
        bytes, with span hashes `spans` (one hash of the whole record when it is shorter than a span)."""
        assert self.index is not None
        if not 0 <= start <= end <= size:
            raise ChunkedProtoError(f"bytes {start}-{end} are outside the record at {offset} ({size} bytes)")
        key = -1 - offset  # never a chunk index
        if key not in self._records:
            self._records[key] = _Record(offset, size, self.index.span_size if len(spans) > 1 else max(1, size), spans)
        record = self._records[key]
        if record.direct:
            try:
                return self._read_spans(record, start, end, None)
            except _Mismatch:
                record.direct = False
        return memoryview(self._whole(record, None))[start:end]

    # ---- reading and checking ----------------------------------------------------------------------------

    def _whole(self, record: _Record, chunk: int | None) -> bytes | memoryview:
        """A record read whole: through the reader (or, with hashes, straight from the file), checked."""
        if record.hashes is not None and record.direct:
            try:
                direct = self._record_as_bytes(record)
                return direct if direct is not None else self._read_spans(record, 0, record.size, None)
            except _Mismatch:
                record.direct = False
        if self._reader is None:  # a plain .pb: the file
            data: bytes | memoryview = _buffer(record.size)
            self._raw.readv(0, [data])  # type: ignore[list-item]
        else:
            announced = self._announce([(record.offset, riegeli.chunk_end_estimate(record.offset, record.size))])
            with announced, self._reader_lock:
                if chunk is not None:
                    data = files.RiegeliChunks(self._reader, self.infos).get(chunk)
                else:
                    self._reader.seek_numeric(record.offset)
                    data = self._reader.read_record() or b""
        name = f"chunk {chunk}" if chunk is not None else f"the record at {record.offset}"
        if len(data) != record.size:
            raise IndexMismatchError(f"{name} has {len(data)} bytes, the index expects {record.size}")
        if record.hashes is not None:
            view, span = memoryview(data), record.span
            for position, hash_value in enumerate(record.hashes.tolist()):
                if highway_hash(view[position * span : (position + 1) * span]) != hash_value:
                    raise IndexMismatchError(f"{name} does not match the index's hash of it (span {position})")
        return data

    def _read_spans(self, record: _Record, start: int, end: int, into: memoryview | None) -> memoryview:
        """Bytes [start, end) read straight from the file, span by span, each checked (_Mismatch otherwise)."""
        assert record.hashes is not None
        span = record.span
        low, high = start - start % span, min(record.size, -(-end // span) * span)
        out = _buffer(end - start) if into is None else into[: end - start]
        if low == start and high == end and self._reader is not None:  # whole spans: read and checked in one call
            position, pieces = self._content_pieces(record.offset, record.start + start, end - start)
            spans = record.hashes[low // span : max(low // span + 1, -(-high // span))]
            matched = self._raw.read_checked(position, pieces, out, span, spans)
            if matched is not None:
                if not matched:
                    raise _Mismatch
                return out
        for position in range(low // span, max(low // span + 1, -(-high // span))):
            begin, finish = position * span, min(record.size, (position + 1) * span)
            whole = start <= begin and finish <= end  # the whole span is wanted: straight into the output
            target = out[begin - start : finish - start] if whole else _buffer(finish - begin)
            self._read_record_bytes(record, begin, target)
            if highway_hash(target) != int(record.hashes[position]):
                raise _Mismatch
            if not whole:
                a, b = max(start, begin), min(end, finish)
                out[a - start : b - start] = target[a - begin : b - begin]
        return out

    def _position(self, record: _Record, offset: int) -> int:
        """The file position of a record's byte `offset` (where an uncompressed chunk of its own puts it)."""
        return offset if self._reader is None else content_position(record.offset, record.start + offset)

    def _read_record_bytes(self, record: _Record, offset: int, out: memoryview) -> None:
        """Reads a record's bytes from `offset` into `out`, straight from the file (_Mismatch when it is too short:
        the record is not where it was assumed)."""
        if self._reader is None:
            self._read_contents(None, offset, out)
        else:
            self._read_contents(record.offset, record.start + offset, out)

    def _read_contents(self, begin: int | None, offset: int, out: memoryview) -> None:
        """Reads the contents of the Riegeli chunk at `begin` from `offset` into `out` in one vectored read, the
        block headers on the way into scratch buffers (begin None: the file's bytes from `offset`)."""
        position, pieces = self._content_pieces(begin, offset, len(out))
        buffers, filled = [], 0
        for piece in pieces:
            if piece < 0:
                buffers.append(memoryview(bytearray(-piece)))
            else:
                buffers.append(out[filled : filled + piece])
                filled += piece
        try:
            self._raw.readv(position, buffers)
        except RiegeliError:
            raise _Mismatch from None

    def _content_pieces(self, begin: int | None, offset: int, size: int) -> tuple[int, list[int]]:
        """Where `size` bytes of contents of the Riegeli chunk at `begin` from `offset` on lie: the file position
        and the lengths of the pieces from there (negative: a block header on the way). _Mismatch when the file
        ends first (begin None: the file's bytes from `offset`)."""
        position = offset if begin is None else content_position(begin, offset)
        if position + size > self._raw.size():
            raise _Mismatch
        pieces, filled, cursor = [], 0, position
        while filled < size:
            if begin is not None and cursor % BLOCK_SIZE == 0:
                pieces.append(-BLOCK_HEADER_SIZE)
                cursor += BLOCK_HEADER_SIZE
            take = size - filled if begin is None else min(size - filled, BLOCK_SIZE - cursor % BLOCK_SIZE)
            pieces.append(take)
            filled += take
            cursor += take
        return position, pieces

    def _record_as_bytes(self, record: _Record) -> bytes | None:
        """A record with hashes read whole straight from the file into a bytes object (RawFile.read_bytes) and
        checked span by span (_Mismatch otherwise); None when the file cannot be read so."""
        assert record.hashes is not None
        if self._reader is None:  # a plain .pb: the file's bytes
            position, pieces = self._content_pieces(None, 0, record.size)
        else:
            position, pieces = self._content_pieces(record.offset, record.start, record.size)
        try:
            data = self._raw.read_bytes(position, pieces)
        except RiegeliError:
            raise _Mismatch from None
        if data is None:
            return None
        view, span = memoryview(data), record.span
        for index, expected in enumerate(record.hashes.tolist()):
            if highway_hash(view[index * span : (index + 1) * span]) != expected:
                raise _Mismatch
        return data

    def _chunk_alone(self, chunk: int) -> ChunkHeader | None:
        """The header of the Riegeli chunk holding record `chunk` when the record is alone in an uncompressed chunk
        the file holds whole (its data: a prefix, then the record; the header's hash and the prefix checked, the
        data's hash is the caller's to check); None otherwise (the reader will read it, or say what is wrong)."""
        info = self.infos[chunk]
        begin, size = int(info.offset), int(info.size)
        record = _Record(begin, size, max(1, size), None)
        header_bytes = memoryview(bytearray(CHUNK_HEADER_SIZE))
        try:
            self._read_contents(begin, 0, header_bytes)
            header = ChunkHeader.decode(bytes(header_bytes), begin)
        except (_Mismatch, RiegeliError):
            return None  # not a chunk's beginning (a record sharing its chunk), or damage: the reader will say
        prefix = record.start - CHUNK_HEADER_SIZE
        if header.chunk_type != SIMPLE or header.num_records != 1 or header.data_size != prefix + size:
            return None
        if content_position(begin, CHUNK_HEADER_SIZE + header.data_size) > self._raw.size():
            return None  # truncated: the reader says so
        found = memoryview(bytearray(prefix))
        self._read_chunk_data(begin, CHUNK_HEADER_SIZE, found)
        if bytes(found) != bytes([NONE]) + varint(len(varint(size))) + varint(size):
            return None  # compressed: the reader decompresses it
        return header

    def _read_chunk_data(self, begin: int, offset: int, out: memoryview) -> None:
        """Reads contents of the chunk at `begin`, which the file holds whole (RiegeliError if it no longer does)."""
        try:
            self._read_contents(begin, offset, out)
        except _Mismatch:
            raise RiegeliError(f"truncated file: the chunk at byte {begin} ends past the end of the file") from None

    @staticmethod
    def _check_data_hash(begin: int, header: ChunkHeader, actual: int) -> None:
        if actual != header.data_hash:
            raise RiegeliError(f"corrupted chunk at byte {begin}: data hash mismatch")

    def _announce(self, ranges: list[tuple[int, int]]) -> contextlib.AbstractContextManager[object]:
        """Byte ranges about to be read, within the returned context (a remote file fetches them ahead, in as few
        requests as it can, and drops them when the context ends)."""
        return self._prefetch(ranges) if self._prefetch is not None else contextlib.nullcontext()
