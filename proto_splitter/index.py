"""The index of a `.cpb` file (protos/proto_splitter/proto/index.proto): hashes binding every record to it (a
whole-record hash, or one per span of a big record so that a part of it is read and checked alone), a summary of
each MESSAGE record's top-level fields (counts, and checkpoints from which one element is found without scanning
what precedes it), and key tables finding list elements and map entries by key (NodeDef names).

This module is the model and its codec; `index_builder` makes an index, `handle` uses it. Decoding checks the
shape of every array; what the arrays say is checked where it is used (an element found at a checkpoint must be an
occurrence of its field, a record must match its hashes), so that a damaged or inconsistent index raises
`IndexMismatchError` and never yields a wrong element.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from . import riegeli, wire
from .errors import ChunkedProtoError
from .proto import chunk_pb2, index_pb2
from .riegeli.highwayhash import highway_hash, streaming_hasher

INDEX_FIELD = 1000  # ChunkMetadata.index: a field number TensorFlow's chunk.proto does not define
INDEX_VERSION = 1
SPAN_SIZE = 256 << 10
CHECKPOINT_GAP = 64 << 10
INLINE_KEYS = 8192  # key tables with more entries are records of their own, read by pages
WHOLE = np.uint64((1 << 64) - 2)  # first_span of a record checked whole: its one hash is in `hashes`
UNHASHED = np.uint64((1 << 64) - 1)  # first_span of a record the index has no hash of (a scan skips BYTES chunks)
INDEX_RECORD_MIN = (64 << 10) + 1024  # the index record is padded to this: see index.proto's `padding`

Array = npt.NDArray[np.uint64]


class IndexMismatchError(ChunkedProtoError):
    """The file's index is damaged or does not describe the file (a record, the metadata or an element differs
    from what it says)."""


def to_bytes(values: npt.ArrayLike) -> bytes:
    """A uint64 array as the index stores it (little-endian bytes)."""
    return np.ascontiguousarray(values, dtype="<u8").tobytes()


def _array(data: bytes, what: str, width: int = 1) -> Array:
    if len(data) % (8 * width):
        raise IndexMismatchError(f"the index's {what} is not a whole number of {8 * width}-byte rows")
    return np.frombuffer(data, dtype="<u8").reshape(-1, width) if width > 1 else np.frombuffer(data, dtype="<u8")


def span_hashes(data: bytes | bytearray | memoryview, span_size: int) -> list[int]:
    """The hash of each span of a record."""
    view = memoryview(data).cast("B")
    return [highway_hash(view[start : start + span_size]) for start in range(0, len(view), span_size)]


class SpanHasher:
    """span_hashes() of a record given in pieces (read window by window into one buffer): with the streaming
    hasher nothing of it is kept, without it one span at a time."""

    def __init__(self, span_size: int):
        self._span_size, self._filled = span_size, 0
        self._hashes: list[int] = []
        self._hasher = streaming_hasher()
        self._kept = bytearray() if self._hasher is None else None

    def feed(self, piece: bytes | bytearray | memoryview) -> None:
        """The record's next bytes (not kept)."""
        view = memoryview(piece).cast("B")
        while view:
            take = min(len(view), self._span_size - self._filled)
            if self._hasher is not None:
                self._hasher.update(view[:take])
            else:
                assert self._kept is not None
                self._kept += view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == self._span_size:
                self._end_span()

    def finish(self) -> list[int]:
        """The hash of each span (the last one shorter)."""
        if self._filled:
            self._end_span()
        return self._hashes

    def _end_span(self) -> None:
        if self._hasher is not None:
            self._hashes.append(self._hasher.digest())
            self._hasher = streaming_hasher()
        else:
            assert self._kept is not None
            self._hashes.append(highway_hash(self._kept))
            self._kept = bytearray()
        self._filled = 0


def metadata_hash(record: bytes | bytearray | memoryview) -> int:
    """The hash binding an index to a ChunkMetadata record: of its top-level occurrences other than the index's
    location, in order (so the same metadata with or without that field hashes alike)."""
    view = memoryview(record).cast("B")
    kept = [view[o.start : o.end] for o in wire.scan(view) if o.field_number != INDEX_FIELD]
    return highway_hash(b"".join(kept))


@dataclass(frozen=True)
class StreamSummary:
    """The top-level occurrences of one MESSAGE record per field number (wire.FieldSummary, as stored)."""

    chunk: int
    numbers: Array
    masks: Array
    counts: Array
    first_rows: Array
    rows: Array
    checkpoints: Array  # (ordinal, offset) rows
    _rows_by_number: dict[int, int] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_summary(cls, chunk: int, summary: wire.FieldSummary) -> StreamSummary:
        return cls(chunk, *summary)

    def __post_init__(self) -> None:
        self._rows_by_number.update((int(number), row) for row, number in enumerate(self.numbers.tolist()))

    def row(self, number: int) -> int | None:
        """The row of field `number`, or None when the record has no occurrence of it."""
        return self._rows_by_number.get(number)

    def count(self, number: int) -> int:
        """Occurrences of field `number` in the record."""
        row = self.row(number)
        return 0 if row is None else int(self.counts[row])

    def checkpoint_before(self, number: int, ordinal: int) -> tuple[int, int]:
        """(ordinal, offset) of the last checkpoint of field `number` at or before its `ordinal`-th occurrence."""
        row = self.row(number)
        if row is None or not 0 <= ordinal < int(self.counts[row]):
            raise IndexMismatchError(f"occurrence {ordinal} of field {number} is not in chunk {self.chunk}")
        first, rows = int(self.first_rows[row]), int(self.rows[row])
        ordinals = self.checkpoints[first : first + rows, 0]
        position = int(np.searchsorted(ordinals, ordinal, side="right")) - 1
        if position < 0:
            raise IndexMismatchError(f"field {number} of chunk {self.chunk} has no checkpoint at its first occurrence")
        point = self.checkpoints[first + position]
        return int(point[0]), int(point[1])

    def check(self, size: int) -> None:
        """Checks that the arrays are consistent with each other and with a record of `size` bytes."""
        n = len(self.numbers)
        if not (len(self.masks) == len(self.counts) == len(self.first_rows) == len(self.rows) == n):
            raise IndexMismatchError(f"the summary of chunk {self.chunk} has rows of different lengths")
        if n and int((self.first_rows + self.rows).max()) > len(self.checkpoints):
            raise IndexMismatchError(f"the summary of chunk {self.chunk} points past its checkpoints")
        if len(self.checkpoints) and int(self.checkpoints[:, 1].max()) >= max(size, 1):
            raise IndexMismatchError(f"a checkpoint of chunk {self.chunk} lies past its record ({size} bytes)")
        if n and (self.rows == 0).any() | (self.rows > self.counts).any():
            raise IndexMismatchError(f"the summary of chunk {self.chunk} has fields without checkpoints")


@dataclass(frozen=True)
class KeyTable:
    """The keys of one list (or map) field over the streams of one ChunkedMessage (index.proto's KeyTable)."""

    owner: tuple[int, ...]
    field: int
    key_field: int
    count: int
    entries: Array | None  # inline entries, or None when they are in a record
    record_offset: int = 0
    record_size: int = 0
    record_span_hashes: Array = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    fences: Array = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    owner_entries: Array = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.uint64))


def matching(entries: Array, key: int) -> list[int]:
    """The ordinals of the sorted entries whose key hash is `key`."""
    low = int(np.searchsorted(entries, np.uint64(key << 32), side="left"))
    high = int(np.searchsorted(entries, np.uint64((key << 32) | 0xFFFFFFFF), side="right"))
    return [int(entry) & 0xFFFFFFFF for entry in entries[low:high]]


def pages_for(fences: Array, key: int) -> range:
    """The pages of a paged key table that may hold entries with key hash `key`."""
    low = max(0, int(np.searchsorted(fences, np.uint64(key << 32), side="left")) - 1)
    high = int(np.searchsorted(fences, np.uint64((key << 32) | 0xFFFFFFFF), side="right"))
    return range(low, max(low, high))


@dataclass
class Index:
    """A decoded ChunkIndex: hashes per chunk, stream summaries by chunk, key tables by (owner, field)."""

    span_size: int
    checkpoint_gap: int
    message_type: str
    metadata_hash: int
    hashes: Array
    first_span: Array
    span_hash_array: Array
    streams: dict[int, StreamSummary | None]  # None: the record is not summarized (read it whole)
    key_tables: dict[tuple[tuple[int, ...], int], KeyTable]

    def hashes_of(self, chunk: int, size: int) -> tuple[int, Array] | None:
        """(span length, hashes) that the record of `chunk` (of `size` bytes) is checked with: a hash per
        span_size bytes, or one hash of the whole record (a span of its size); None when the index has none."""
        first = self.first_span[chunk]
        if first == UNHASHED:
            return None
        if first == WHOLE:
            return max(size, 1), self.hashes[chunk : chunk + 1]
        count = max(1, -(-size // self.span_size))
        if int(first) + count > len(self.span_hash_array):
            raise IndexMismatchError(f"the span hashes of chunk {chunk} run past the index's array")
        return self.span_size, self.span_hash_array[int(first) : int(first) + count]

    # ---- codec -------------------------------------------------------------------------------------------------

    def to_proto(self) -> index_pb2.ChunkIndex:
        """The ChunkIndex message."""
        proto = index_pb2.ChunkIndex(
            version=INDEX_VERSION,
            metadata_hash=self.metadata_hash,
            span_size=self.span_size,
            checkpoint_gap=self.checkpoint_gap,
            message_type=self.message_type,
        )
        proto.records.hashes = to_bytes(self.hashes)
        proto.records.first_span = to_bytes(self.first_span)
        proto.records.span_hashes = to_bytes(self.span_hash_array)
        for chunk, stream in sorted(self.streams.items()):
            if stream is None:
                proto.streams.add(chunk=chunk, unsummarized=True)
                continue
            fields = np.stack([stream.numbers, stream.masks, stream.counts, stream.first_rows, stream.rows], axis=1)
            proto.streams.add(chunk=chunk, fields=to_bytes(fields), checkpoints=to_bytes(stream.checkpoints))
        for table in self.key_tables.values():
            proto.key_tables.add(
                owner=table.owner,
                field=table.field,
                key_field=table.key_field,
                count=table.count,
                entries=to_bytes(table.entries) if table.entries is not None else b"",
                record_offset=table.record_offset,
                record_size=table.record_size,
                record_span_hashes=to_bytes(table.record_span_hashes),
                fences=to_bytes(table.fences),
                owner_entries=to_bytes(table.owner_entries),
            )
        proto.padding = bytes(max(0, INDEX_RECORD_MIN - proto.ByteSize() - 8))
        return proto

    @classmethod
    def load(cls, reader: riegeli.RecordReader, metadata: chunk_pb2.ChunkMetadata, record: bytes) -> Index:
        """The index of the file `reader` reads, whose ChunkMetadata (`record`, parsed: `metadata`) locates it,
        checked against that metadata."""
        location = metadata.index
        if location.offset >= reader.size():
            raise IndexMismatchError(f"the index lies at position {location.offset}, past the end of the file")
        reader.seek_numeric(location.offset)
        data = reader.read_record()
        if data is None or len(data) != location.size:
            raise IndexMismatchError(f"no index record of {location.size} bytes at position {location.offset}")
        index = cls.from_record(data, metadata.chunks)
        if index.metadata_hash != metadata_hash(record):
            raise IndexMismatchError("the index was not made for this file's metadata")
        return index

    @classmethod
    def from_record(cls, record: bytes | memoryview, infos: Sequence[chunk_pb2.ChunkInfo]) -> Index:
        """Decodes a ChunkIndex record of a file whose chunks are `infos`, checking the shapes of its arrays."""
        proto = index_pb2.ChunkIndex()
        try:
            proto.ParseFromString(bytes(record))  # no copy of a bytes object
        except Exception as error:  # noqa: BLE001 (protobuf's DecodeError, or upb's RuntimeError)
            raise IndexMismatchError(f"the index record does not parse: {error}") from None
        if proto.version != INDEX_VERSION:
            raise IndexMismatchError(f"index version {proto.version} is not supported (this library reads 1)")
        if proto.span_size < 1024 or proto.checkpoint_gap < 1:
            raise IndexMismatchError(f"the index has span size {proto.span_size}, gap {proto.checkpoint_gap}")
        hashes = _array(proto.records.hashes, "record hashes")
        first_span = _array(proto.records.first_span, "span positions")
        if len(hashes) != len(infos) or len(first_span) != len(infos):
            raise IndexMismatchError(f"the index describes {len(hashes)} chunks, the metadata {len(infos)}")
        streams: dict[int, StreamSummary | None] = {}
        for stream in proto.streams:
            if stream.chunk >= len(infos) or stream.chunk in streams:
                raise IndexMismatchError(f"the index summarizes chunk {stream.chunk} twice or out of range")
            if stream.unsummarized:
                streams[stream.chunk] = None
                continue
            fields = _array(stream.fields, "field rows", 5)
            summary = StreamSummary(
                stream.chunk,
                fields[:, 0],
                fields[:, 1],
                fields[:, 2],
                fields[:, 3],
                fields[:, 4],
                _array(stream.checkpoints, "checkpoints", 2),
            )
            summary.check(infos[stream.chunk].size)
            streams[stream.chunk] = summary
        key_tables: dict[tuple[tuple[int, ...], int], KeyTable] = {}
        for table in proto.key_tables:
            entries = _array(table.entries, "key entries") if table.entries or not table.record_size else None
            decoded = KeyTable(
                tuple(table.owner),
                table.field,
                table.key_field,
                table.count,
                entries,
                table.record_offset,
                table.record_size,
                _array(table.record_span_hashes, "key table span hashes"),
                _array(table.fences, "key fences"),
                _array(table.owner_entries, "owner keys"),
            )
            if entries is None and (
                table.record_size != 8 * table.count
                or len(decoded.record_span_hashes) != max(1, -(-table.record_size // proto.span_size))
                or len(decoded.fences) != -(-table.record_size // proto.span_size)
            ):
                raise IndexMismatchError(f"the key table of field {table.field} does not match its record")
            key_tables[(decoded.owner, decoded.field)] = decoded
        return cls(
            proto.span_size,
            proto.checkpoint_gap,
            proto.message_type,
            proto.metadata_hash,
            hashes,
            first_span,
            _array(proto.records.span_hashes, "span hashes"),
            streams,
            key_tables,
        )
