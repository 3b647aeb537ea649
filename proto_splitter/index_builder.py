"""Building a file's index (index.py) from its chunks: fed each chunk as it is written, in any order (or as a
reader scans a file that has none), then the finished ChunkMetadata. Knows nothing of splitting or files: any
writer that emits chunks can feed it.

Per chunk it keeps what it needs of the bytes while they are at hand: the record's hash (or span hashes), for a
MESSAGE chunk the summary of its top-level fields (wire.summarize, at memory speed) and the keys of the elements of
its fields that may be keyed lists or maps (wire.element_keys). The tree, known at the end, says which chunks
form the streams of each ChunkedMessage, and so which key tables to make. A writer may hand a big chunk over with
`start` instead of `add`: it is noted on a worker thread while the writer writes it.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Iterator
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from . import descriptors, extensions, field_paths, wire
from .chunks import MESSAGE
from .errors import ChunkedProtoError
from .field_paths import FieldPath
from .index import (
    CHECKPOINT_GAP,
    INLINE_KEYS,
    SPAN_SIZE,
    UNHASHED,
    WHOLE,
    Index,
    KeyTable,
    SpanHasher,
    StreamSummary,
    metadata_hash,
    span_hashes,
)
from .proto import chunk_pb2
from .riegeli.highwayhash import highway_hash
from .splitter import merge_order_key

KEY_FIELD = 1  # the key of a keyed element: NodeDef.name, a map entry's key
BACKGROUND_BYTES = 1 << 20  # a chunk this big is noted on the builder's worker thread while it is written (start)
QUEUED_VIEWS = 8  # views of the lasting bytes waiting for the worker thread at most (start)
_KEYED_TYPES: set[str] = set()  # message types whose field 1 (a string) names them within their list


def register_keyed_type(full_name: str) -> None:
    """Makes lists of messages of this type keyed by their field 1, a string (as NodeDef by its name)."""
    _KEYED_TYPES.add(full_name)


def is_keyed(field: FieldDescriptor) -> bool:
    """Whether the elements of this field are found by key: a list of a keyed type, or a map with string keys."""
    if descriptors.is_map(field):
        return bool(descriptors.map_key_field(field).type == FieldDescriptor.TYPE_STRING)
    return (
        descriptors.is_repeated(field)
        and field.message_type is not None
        and (field.message_type.full_name in _KEYED_TYPES)
    )


@functools.cache
def _keyed_numbers(descriptor: Descriptor) -> frozenset[int]:
    """Numbers of the keyed fields of every message type reachable from `descriptor` (which fields of a chunk
    may need keys, before the tree says the chunk's type)."""
    numbers, seen, pending = set(), {descriptor}, [descriptor]
    while pending:
        for field in pending.pop().fields:
            if is_keyed(field):
                numbers.add(field.number)
            if field.message_type is not None and field.message_type not in seen:
                seen.add(field.message_type)
                pending.append(field.message_type)
    return frozenset(numbers)


class _Noting(NamedTuple):
    """A chunk handed to the worker thread: its future, and for a view of the builder's `lasting` bytes (it holds
    no memory of its own) the arguments of its `add`, so that the writer's thread may take it over."""

    future: Future[None]
    view: tuple[int, memoryview, int] | None


class IndexBuilder:
    """Collects what the index needs from each chunk (add) and makes the index (finish)."""

    def __init__(
        self,
        descriptor: Descriptor | None,
        span_size: int = SPAN_SIZE,
        checkpoint_gap: int = CHECKPOINT_GAP,
        keys: bool = True,
        lasting: bytes | None = None,
    ):
        """`keys=False` makes no key tables (an index built in memory makes them when they are first needed).
        `lasting`: bytes that outlive the writing (the message's serialization its chunks are cut from): chunks
        that are views of it cost no memory while they wait for the worker thread (see start)."""
        self._descriptor = descriptor
        self._keyed = _keyed_numbers(descriptor) if descriptor is not None and keys else frozenset()
        self.span_size, self.checkpoint_gap = span_size, checkpoint_gap
        self._hashes: dict[int, int] = {}
        self._spans: dict[int, list[int]] = {}
        self._streams: dict[int, StreamSummary | None] = {}
        self._keys: dict[tuple[int, int], npt.NDArray[np.uint32]] = {}
        self._worker: ThreadPoolExecutor | None = None
        self._noting: deque[_Noting] = deque()
        self._lasting = lasting

    def start(self, chunk: int, data: bytes | bytearray | memoryview, chunk_type: int) -> Future[None] | None:
        """Begins taking note of chunk `chunk` (as add) on the builder's worker thread, so that the caller writes
        the chunk meanwhile (the hashes, summary and keys are C that releases the GIL). `data` must not change
        until the returned future is done; None: a small chunk, noted already. Views of the `lasting` bytes (chunks
        cut from the serialization) hold no memory of their own and queue up to QUEUED_VIEWS deep, so that the
        worker never holds the writer back; any other chunk first waits for those before it to be noted (memory
        stays at one chunk)."""
        if memoryview(data).nbytes < BACKGROUND_BYTES:
            self.add(chunk, data, chunk_type)
            return None
        view = (
            data if isinstance(data, memoryview) and self._lasting is not None and data.obj is self._lasting else None
        )
        while self._noting and (view is None or self._noting[-1].view is None or len(self._noting) >= QUEUED_VIEWS):
            self._noting.popleft().future.result()
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="proto-splitter-index")
        noting = self._worker.submit(self.add, chunk, data, chunk_type)
        self._noting.append(_Noting(noting, None if view is None else (chunk, view, chunk_type)))
        return noting

    def _wait(self) -> None:
        """Waits for the chunks handed to the worker thread, taking note here of those it has not begun (both
        threads at work), and raises what the first that failed raised."""
        noting, self._noting = self._noting, deque()
        for queued in reversed(noting):
            if queued.view is not None and queued.future.cancel():  # not begun: the worker will not take it
                self.add(*queued.view)
        futures.wait([queued.future for queued in noting])
        for queued in noting:
            if not queued.future.cancelled():
                queued.future.result()

    def add(self, chunk: int, data: bytes | bytearray | memoryview, chunk_type: int) -> None:
        """Takes note of chunk `chunk` (its record's bytes and ChunkInfo type)."""
        view = memoryview(data).cast("B")
        if chunk_type != MESSAGE:  # read whole (values: a constant's bytes)
            self._hashes[chunk] = highway_hash(view)
            return
        stream = self.message_stream(chunk, len(view))
        stream.feed(view)
        stream.close()
        summary = self._streams[chunk]
        for number, mask in zip(summary.numbers.tolist(), summary.masks.tolist(), strict=True) if summary else ():
            if number in self._keyed and mask & (1 << wire.LEN):
                self._keys[(chunk, number)] = wire.element_keys(view, 0, len(view), number, KEY_FIELD)

    def message_stream(self, chunk: int, size: int) -> MessageStream:
        """Takes note of MESSAGE chunk `chunk` of `size` bytes from its bytes given in pieces (a record scanned
        window by window): hashes and summary, as `add` (no keys: they need whole elements)."""
        return MessageStream(chunk, size, self.span_size, self.checkpoint_gap, self._noted)

    def _noted(self, chunk: int, hashes: list[int] | int, summary: StreamSummary | None) -> None:
        """What a MessageStream noted of MESSAGE chunk `chunk`: span hashes (a list) or one hash, the summary."""
        if isinstance(hashes, list):
            self._spans[chunk] = hashes
        else:
            self._hashes[chunk] = hashes
        self._streams[chunk] = summary

    def finish(self, metadata: chunk_pb2.ChunkMetadata, write_record: Callable[[memoryview], int] | None) -> Index:
        """The index of a file with this ChunkMetadata (without its index field); key tables too large to be
        inline are written with `write_record(data) -> numeric position` first (None: all stay inline, for an
        index kept in memory)."""
        try:
            self._wait()
        finally:
            if self._worker is not None:
                self._worker.shutdown()
                self._worker = None
        count = len(metadata.chunks)
        hashes = np.zeros(count, dtype=np.uint64)
        first_span = np.full(count, UNHASHED, dtype=np.uint64)
        spans: list[int] = []
        for chunk in range(count):
            if chunk in self._spans:
                first_span[chunk] = len(spans)
                spans.extend(self._spans[chunk])
            elif chunk in self._hashes:
                hashes[chunk], first_span[chunk] = self._hashes[chunk], WHOLE
        key_tables = {}
        if self._descriptor is not None and self._keys:
            for owner, cm, descriptor in _groups(metadata.message, self._descriptor, self._streams.__contains__):
                streams = [chunk for chunk in stream_chunks(cm) if self._streams.get(chunk) is not None]
                for field in descriptor.fields:
                    if field.number in self._keyed and is_keyed(field):
                        table = self._key_table(owner, cm, field.number, streams, write_record)
                        if table is not None:
                            key_tables[(owner, field.number)] = table
        return Index(
            self.span_size,
            self.checkpoint_gap,
            self._descriptor.full_name if self._descriptor is not None else "",
            metadata_hash(metadata.SerializeToString(deterministic=True)),
            hashes,
            first_span,
            np.array(spans, dtype=np.uint64),
            dict(self._streams),
            key_tables,
        )

    def _key_table(
        self,
        owner: tuple[int, ...],
        cm: chunk_pb2.ChunkedMessage,
        number: int,
        streams: list[int],
        write_record: Callable[[memoryview], int] | None,
    ) -> KeyTable | None:
        parts = []
        for chunk in streams:
            summary = self._streams[chunk]
            if summary is not None and summary.count(number):
                parts.append(self._keys.get((chunk, number)))
        return key_table(owner, cm, number, parts, self.span_size, write_record)


class MessageStream:
    """The hashes and summary of MESSAGE record `chunk` from its bytes given in pieces (feed), handed at close to
    `noted(chunk, hashes, summary)`: a hash per span of a record read in part (a list), else one of the whole."""

    def __init__(
        self,
        chunk: int,
        size: int,
        span_size: int,
        gap: int,
        noted: Callable[[int, list[int] | int, StreamSummary | None], None],
    ):
        self._chunk, self._spanned, self._noted = chunk, size >= span_size, noted
        self._hashes = SpanHasher(span_size if self._spanned else max(1, size))
        self._summary: wire.SummaryStream | None = wire.SummaryStream(size, gap)

    def feed(self, piece: bytes | bytearray | memoryview) -> None:
        """The record's next bytes (not kept)."""
        self._hashes.feed(piece)
        if self._summary is not None:
            try:
                self._summary.feed(piece)
            except wire.WireFormatError:
                self._summary = None  # not wire format: read whole, it fails there as a merge would

    def close(self) -> None:
        """Hands what was noted on."""
        hashes = self._hashes.finish()
        whole = hashes[0] if hashes else highway_hash(b"")
        self._noted(self._chunk, hashes if self._spanned else whole, _summarize(self._chunk, self._summary))


def key_table(
    owner: tuple[int, ...],
    cm: chunk_pb2.ChunkedMessage,
    number: int,
    parts: list[npt.NDArray[np.uint32] | None],
    span_size: int,
    write_record: Callable[[memoryview], int] | None,
) -> KeyTable | None:
    """The key table of field `number` of the ChunkedMessage `cm` (at `owner` in the tree) from the keys of its
    elements in each of its streams holding some (wire.element_keys; None for a stream whose occurrences are not
    length-delimited: then it is no keyed list). None when there is nothing to index."""
    present = [part for part in parts if part is not None]
    if not present or len(present) != len(parts) or _has_nested_fields(cm):
        return None
    keys = np.concatenate(present)
    if len(keys) >= 1 << 32:
        return None
    entries = wire.key_entries(keys)
    if len(entries) <= INLINE_KEYS or write_record is None:
        return KeyTable(owner, number, KEY_FIELD, len(keys), entries)
    owned = sorted(index for index in _indices_below(cm, number) if index < len(keys))
    owner_entries = np.sort((keys[owned].astype(np.uint64) << np.uint64(32)) | np.array(owned, dtype=np.uint64))
    data = np.ascontiguousarray(entries, dtype="<u8").data.cast("B")  # the bytes to_bytes makes, uncopied
    offset = write_record(data)
    return KeyTable(
        owner,
        number,
        KEY_FIELD,
        len(keys),
        None,
        offset,
        len(data),
        np.array(span_hashes(data, span_size), dtype=np.uint64),
        entries[:: span_size // 8].copy(),
        owner_entries,
    )


def _summarize(chunk: int, stream: wire.SummaryStream | None) -> StreamSummary | None:
    """The summary of a MESSAGE record, or None when it cannot be summarized (then it is read whole, and a
    record that is not wire format fails there, as a merge would)."""
    if stream is None:
        return None
    try:
        summary = stream.finish()
    except wire.WireFormatError:
        return None
    return StreamSummary.from_summary(chunk, summary) if summary is not None else None


def stream_chunks(cm: chunk_pb2.ChunkedMessage) -> list[int]:
    """The chunks whose records are merged into the message a ChunkedMessage builds, before any chunked field
    with a path: its own chunk, then those of the ChunkedMessages attached with an empty path, in merge order."""
    chunks = [cm.chunk_index] if cm.HasField("chunk_index") else []
    for _, sub in empty_path_fields(cm):
        chunks.extend(stream_chunks(sub))
    return chunks


def empty_path_fields(cm: chunk_pb2.ChunkedMessage) -> list[tuple[int, chunk_pb2.ChunkedMessage]]:
    """(position, ChunkedMessage) of the chunked fields with an empty path, in merge order."""
    found = [
        (position, field.message)
        for position, field in enumerate(cm.chunked_fields)
        if not field.field_tag and not extensions.is_guard_field(field)
    ]
    found.sort(key=lambda item: merge_order_key(FieldPath(), item[1]))
    return found


def _has_nested_fields(cm: chunk_pb2.ChunkedMessage) -> bool:
    """Whether a ChunkedMessage attached with an empty path has chunked fields of its own (then elements may be
    created between its streams, and ordinals over the streams are not list indices)."""
    return any(sub.chunked_fields for _, sub in empty_path_fields(cm))


def _indices_below(cm: chunk_pb2.ChunkedMessage, number: int) -> set[int]:
    """The list indices i of the chunked fields at paths starting with [number, i]."""
    found = set()
    for field in cm.chunked_fields:
        tags = field.field_tag
        first_is_field = len(tags) >= 2 and tags[0].WhichOneof("kind") == "field"
        if first_is_field and tags[0].field == number and tags[1].WhichOneof("kind") == "index":
            found.add(tags[1].index)
    return found


def _groups(
    root: chunk_pb2.ChunkedMessage, descriptor: Descriptor, is_message_chunk: Callable[[int], bool]
) -> Iterator[tuple[tuple[int, ...], chunk_pb2.ChunkedMessage, Descriptor]]:
    """Each ChunkedMessage with MESSAGE streams (the root, and those attached with a path), with its position in
    the tree and the message type it builds. Paths are resolved only where a MESSAGE chunk may lie below."""
    pending: list[tuple[tuple[int, ...], chunk_pb2.ChunkedMessage, Descriptor]] = [((), root, descriptor)]
    while pending:
        position, cm, current = pending.pop()
        if any(is_message_chunk(chunk) for chunk in stream_chunks(cm)):
            yield position, cm, current
        for place, field in _with_positions(cm, position):
            sub = field.message
            if not sub.chunked_fields and not any(is_message_chunk(chunk) for chunk in stream_chunks(sub)):
                continue  # a leaf (a BYTES chunk): no stream below, no path to resolve
            try:
                target = field_paths.target(current, field_paths.from_field_tags(field.field_tag, current))
            except ChunkedProtoError:
                continue  # a tree that does not fit the type: nothing of it is indexed
            if target is not None:
                pending.append((place, sub, target))


def _with_positions(
    cm: chunk_pb2.ChunkedMessage, position: tuple[int, ...]
) -> Iterator[tuple[tuple[int, ...], chunk_pb2.ChunkedField]]:
    """The chunked fields of a ChunkedMessage and of those attached to it with an empty path (recursively), with
    their positions in the tree; those with a path only (the empty ones belong to the same group)."""
    for index, field in enumerate(cm.chunked_fields):
        if extensions.is_guard_field(field):
            continue
        if field.field_tag:
            yield (*position, index), field
        else:
            yield from _with_positions(field.message, (*position, index))
