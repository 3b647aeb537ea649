"""`.pb` / `.cpb` files: writing a split message as Riegeli records and reading it back, whole or in part.

This is the I/O edge of the library: the splitter and merger work on chunk sinks and sources; here those
are bound to Riegeli writers and readers over paths, file objects and bytes.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent import futures
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError, Message

from . import _heap, descriptors, extensions, field_paths, oversized, remote, riegeli
from .chunks import Chunk, ChunkData, chunk_type_of
from .errors import ChunkedProtoError, ProtoSplitterError, SplitError
from .index import INDEX_VERSION
from .index_builder import IndexBuilder
from .merger import ChunkSource, Merger, MessageT, check_version, needed_chunks
from .proto import chunk_pb2, index_pb2, versions_pb2
from .readahead import ReadAhead
from .registry import WritePlan, plan_write, split_into
from .splitter import has_required_fields, object_size

if TYPE_CHECKING:
    from typing_extensions import Buffer

PathLike = str | os.PathLike[str]
Source = PathLike | BinaryIO | bytes | bytearray | memoryview
Destination = PathLike | BinaryIO  # a path, or a writable binary file object
SPLITTER_VERSION = 1
RIEGELI_SIGNATURE = bytes.fromhex("83af70d10d884a3f0000000000000000")


class ChunkedFileNotFoundError(ProtoSplitterError, FileNotFoundError):
    """Neither `<prefix>.cpb` nor `<prefix>.pb` (nor the path itself) exists."""


def version_def(join_version: int = 0) -> versions_pb2.VersionDef:
    """The version stamp written into every ChunkMetadata (TensorFlow's splitter writes 1 / 0; 1 / 1 marks
    proto-splitter's value pieces, see extensions.py)."""
    return versions_pb2.VersionDef(splitter_version=SPLITTER_VERSION, join_version=join_version)


# ---- writing -------------------------------------------------------------------------------------------


class RecordSink:
    """A ChunkSink writing each chunk as a Riegeli record as soon as it is produced, and feeding it to the
    file's index (`index`: None writes no index)."""

    def __init__(self, writer: riegeli.RecordWriter, index: IndexBuilder | None = None):
        self._writer = writer
        self._index = index
        self.infos: list[chunk_pb2.ChunkInfo | None] = []

    def reserve(self) -> int:
        self.infos.append(None)
        return len(self.infos) - 1

    def add(self, data: ChunkData, chunk_type: int) -> int:
        self.infos.append(None)
        self.fill(len(self.infos) - 1, data, chunk_type)
        return len(self.infos) - 1

    def fill(self, index: int, data: ChunkData, chunk_type: int) -> None:
        if isinstance(data, Message):
            data = data.SerializeToString(deterministic=True)
        noting = self._index.start(index, data, chunk_type) if self._index is not None else None
        try:
            self.infos[index] = self._write(data, chunk_type)  # while the index takes note of the chunk
        finally:
            if noting is not None and not _unchanging(data):
                futures.wait((noting,))  # the caller may change `data` once this returns (its error: at finish)

    def _write(self, data: bytes | bytearray | memoryview, chunk_type: int) -> chunk_pb2.ChunkInfo:
        self._writer.write_record(data)
        info_type = cast(chunk_pb2.ChunkInfo.Type, chunk_type)
        return chunk_pb2.ChunkInfo(type=info_type, size=len(data), offset=self._writer.last_pos.numeric)

    def metadata(self, chunked_message: chunk_pb2.ChunkedMessage) -> chunk_pb2.ChunkMetadata:
        """The ChunkMetadata describing everything written so far."""
        if any(info is None for info in self.infos):
            raise ChunkedProtoError("a reserved chunk was never filled")
        version = version_def(extensions.join_version(chunked_message))
        infos = [info for info in self.infos if info is not None]
        return chunk_pb2.ChunkMetadata(version=version, chunks=infos, message=chunked_message)

    def finish(self, chunked_message: chunk_pb2.ChunkedMessage) -> chunk_pb2.ChunkMetadata:
        """Writes the index and the ChunkMetadata (the last record); returns the metadata."""
        metadata = self.metadata(chunked_message)
        write_trailer(self._writer, metadata, self._index)
        return metadata


def _unchanging(data: bytes | bytearray | memoryview) -> bool:
    """Whether the bytes of `data` can never change (bytes, or a view of bytes)."""
    return isinstance(data, bytes) or (isinstance(data, memoryview) and isinstance(data.obj, bytes))


def write_trailer(writer: riegeli.RecordWriter, metadata: chunk_pb2.ChunkMetadata, index: IndexBuilder | None) -> None:
    """Ends a `.cpb`: the index records (when `index` is given; see protos/proto_splitter/proto/index.proto), then
    `metadata`, given without an index location, which is set to point at the index. The index and the metadata
    get a Riegeli chunk of their own, small, at the end: a remote reader's first request (the file's tail) holds
    both."""

    def write_record(data: bytes | memoryview) -> int:
        writer.write_record(data)
        return writer.last_pos.numeric

    if index is not None:
        writer.end_chunk()  # after the last records: a key table never shares their chunk
        built = index.finish(metadata, write_record)
        writer.end_chunk()
        record = built.to_proto().SerializeToString(deterministic=True)
        location = write_record(record)
        metadata.index.CopyFrom(index_pb2.IndexLocation(version=INDEX_VERSION, offset=location, size=len(record)))
    writer.write_message(metadata)


def write_chunks(
    chunks: Sequence[Chunk],
    chunked_message: chunk_pb2.ChunkedMessage,
    dest: Destination,
    options: str | None = None,
    descriptor: Descriptor | None = None,
) -> None:
    """Writes in-memory chunks and their ChunkMetadata as a `.cpb` Riegeli file (path or file object), with an
    index; `descriptor` (the message type, by default that of the root chunk when it is a message) lets the index
    find list elements by key."""
    if descriptor is None and chunked_message.HasField("chunk_index") and chunked_message.chunk_index < len(chunks):
        root = chunks[chunked_message.chunk_index]
        descriptor = descriptors.descriptor_of(root) if isinstance(root, Message) else None
    with riegeli.RecordWriter(dest, options=options) as writer:
        sink = RecordSink(writer, IndexBuilder(descriptor))
        for chunk in chunks:
            sink.add(chunk, chunk_type_of(chunk))
        sink.finish(chunked_message)


def write_chunked(
    message: Message,
    dest: Destination,
    max_chunk_size: int | None = None,
    options: str | None = None,
    cut_values: bool = False,
    serialized: bytes | None = None,
) -> None:
    """Writes `message` as a `.cpb` (path or file object) even when it would fit a plain `.pb`; `serialized`: its
    serialization when plan_write made it."""
    with riegeli.RecordWriter(dest, options=options) as writer:
        sink = RecordSink(writer, IndexBuilder(descriptors.descriptor_of(message), lasting=serialized))
        sink.finish(split_into(message, sink, max_chunk_size, cut_values, serialized))


def write(
    message: Message,
    prefix: PathLike | BinaryIO,
    max_chunk_size: int | None = None,
    options: str | None = None,
    *,
    cut_values: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Writes `message` to `<prefix>.pb` when it fits, else to `<prefix>.cpb`; returns the path written.

    The file appears atomically under its final name; a stale sibling (`.cpb` after writing `.pb` or the
    reverse) from an earlier write of the same prefix is removed, so readers never pick an old version.
    `prefix` may be a URL (`s3://bucket/model`, `gs://...`, `memory://...`, `file://...`): the bytes are
    streamed there (fsspec, with `storage_options`), appearing only once complete (remote.destination says
    how, store by store). `prefix` may also be a writable binary file object, seekable or not (a pipe, a
    socket's makefile("wb")): the bytes are streamed in one pass and ".cpb" or ".pb" is returned to say which
    format was written.

    `max_chunk_size` bounds message chunks; a single bytes/string value larger than it is a chunk of its own,
    as in TensorFlow. Every file written is read by TensorFlow's Merger into exactly `message`, except with
    `cut_values=True`, which cuts such values into pieces that only proto-splitter joins (TensorFlow refuses
    those files with an error). A value over 2 GiB needs `cut_values=True`.

    Raises:
        ProtoSplitterError: `message` is not a protobuf message; a remote write failed.
        ChunkedFileNotFoundError: the folder `prefix` names does not exist.
        SplitError: `max_chunk_size` is not None or an integer of at least 64; the message misses required
            fields; a value is over 2 GiB without `cut_values`; or an occurrence that cannot be cut (an unknown
            field, an extension) is over 2 GiB.
        RiegeliError: `options` is not a valid options string, or writing the `.cpb` failed.
        OSError: writing the `.pb` (or to the file object) failed. The final name never holds a half-written file.
    """
    check_message(message)
    if not isinstance(prefix, (str, os.PathLike)):
        return _write_stream(message, prefix, max_chunk_size, options, cut_values)
    prefix = output_prefix(prefix)
    plan = plan_write(message, max_chunk_size)
    path = prefix + (".cpb" if plan.chunked else ".pb")
    size_hint = _size_hint(message, plan) if remote.is_remote(path) else None
    with remote.open_destination(path, storage_options, size_hint=size_hint) as destination:
        if plan.chunked:
            write_chunked(
                message, cast(BinaryIO, destination.file), max_chunk_size, options, cut_values, plan.serialized
            )
        else:
            destination.file.write(plan.whole(message))
    remove_stale_sibling(path, storage_options)
    return path


def output_prefix(prefix: PathLike) -> str:
    """The prefix of the `<prefix>.cpb` or `<prefix>.pb` to write (an extension given is dropped; a `file://`
    URL becomes its path); a local folder must exist."""
    prefix = _strip_extension(remote.local_path(os.fspath(prefix)))
    if not remote.is_remote(prefix) and not os.path.isdir(os.path.dirname(os.path.abspath(prefix))):
        raise ChunkedFileNotFoundError(f"directory of {prefix!r} does not exist")
    return prefix


def remove_stale_sibling(path: str, storage_options: Mapping[str, Any] | None = None) -> None:
    """Removes the `.pb` beside a `.cpb` just written (or the reverse), left by an earlier write of the same
    prefix, so that readers never pick the old version."""
    prefix = _strip_extension(path)
    remote.remove(prefix + (".pb" if path.endswith(".cpb") else ".cpb"), storage_options)


def _size_hint(message: Message, plan: WritePlan) -> int:
    """About the size of the file `plan` writes, to size the parts of a remote multipart upload."""
    return len(plan.serialized) if plan.serialized is not None else object_size(message)


def _write_stream(
    message: Message, out: BinaryIO, max_chunk_size: int | None, options: str | None, cut_values: bool
) -> str:
    plan = plan_write(message, max_chunk_size)
    if plan.chunked:
        write_chunked(message, out, max_chunk_size, options, cut_values, plan.serialized)
        return ".cpb"
    out.write(plan.whole(message))
    out.flush()
    return ".pb"


def _put(pieces: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Puts item on the queue unless the consumer stopped; returns whether it was put."""
    while not stop.is_set():
        try:
            pieces.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class _QueueWriter(io.RawIOBase):
    """A write-only stream handing what is written to a bounded queue (for iter_chunks): each write as is, or
    with `piece_size`, gathered and cut into pieces of exactly that size (the last one flushed may be shorter).

    Gathering keeps views of the buffers written and joins them once per piece: one copy, and one allocation of
    the piece's size, whatever the writes' sizes. This relies on the writers here (RecordWriter, _write_stream)
    never changing a buffer once written."""

    def __init__(self, pieces: queue.Queue[object], stop: threading.Event, piece_size: int | None = None):
        super().__init__()
        self._pieces, self._stop, self._piece_size = pieces, stop, piece_size
        self._parts: list[memoryview] = []
        self._gathered = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer) -> int:
        view = memoryview(data).cast("B")
        count = len(view)
        size = self._piece_size
        if size is None:
            self._send(bytes(view))
            return count
        while view:
            take = min(len(view), size - self._gathered)
            self._parts.append(view[:take])
            self._gathered += take
            view = view[take:]
            if self._gathered == size:
                self.flush()
        return count

    def flush(self) -> None:
        if self._parts:
            piece = b"".join(self._parts)
            self._parts.clear()
            self._gathered = 0
            self._send(piece)

    def _send(self, piece: bytes) -> None:
        if not _put(self._pieces, piece, self._stop):
            raise ProtoSplitterError("the consumer of iter_chunks stopped reading")


def iter_chunks(
    message: Message,
    max_chunk_size: int | None = None,
    options: str | None = None,
    queue_size: int = 4,
    piece_size: int | None = None,
    *,
    cut_values: bool = False,
) -> Generator[bytes, None, None]:
    """Yields the bytes of the `.cpb` (or `.pb`) stream of `message` piece by piece, for chunked uploads
    and sockets; splitting runs in a background thread, at most `queue_size` pieces ahead. Pieces are the
    writer's own writes (64 KiB at most for a `.cpb`, the whole message for a `.pb`), or with `piece_size`,
    exactly that many bytes each but the last. The thread stops when the iterator is closed or dropped.
    Errors come while iterating, not at the call.

    Raises:
        ProtoSplitterError: `message` is not a protobuf message, or `piece_size` is not a positive integer.
        SplitError: as for write().
        RiegeliError: `options` is not a valid options string.
    """
    check_message(message)
    if piece_size is not None and (not isinstance(piece_size, int) or isinstance(piece_size, bool) or piece_size < 1):
        raise ProtoSplitterError(f"piece_size must be None or a positive integer, got {piece_size!r}")
    pieces: queue.Queue[object] = queue.Queue(maxsize=queue_size)
    stop = threading.Event()
    failure: list[BaseException] = []
    done = object()

    def produce() -> None:
        try:
            out = _QueueWriter(pieces, stop, piece_size)
            _write_stream(message, cast(BinaryIO, out), max_chunk_size, options, cut_values)
            out.flush()
        except BaseException as error:  # noqa: BLE001 (re-raised in the consumer)
            failure.append(error)
        finally:
            _put(pieces, done, stop)

    producer = threading.Thread(target=produce, name="proto-splitter-iter-chunks", daemon=True)
    producer.start()
    try:
        while (piece := pieces.get()) is not done:
            yield cast(bytes, piece)
    finally:
        stop.set()
        producer.join()
    if failure:
        raise failure[0]


def write_to_bytes(
    message: Message, max_chunk_size: int | None = None, options: str | None = None, *, cut_values: bool = False
) -> tuple[bytes, bool]:
    """Serializes like write(): returns (data, is_chunked); chunked data is a `.cpb` byte string.

    Raises:
        ProtoSplitterError: `message` is not a protobuf message.
        SplitError: `max_chunk_size` is not None or an integer of at least 64, or a part of the message cannot be
            cut to fit it (an unknown field, or a value that is neither bytes nor a message, larger than the limit).
        RiegeliError: `options` is not a valid options string.
    """
    check_message(message)
    plan = plan_write(message, max_chunk_size)
    if not plan.chunked:
        return plan.whole(message), False
    out = io.BytesIO()
    write_chunked(message, out, max_chunk_size, options, cut_values, plan.serialized)
    return out.getvalue(), True


def check_message(message: object) -> None:
    """Refuses what cannot be written: not a message, or a message missing required fields (TensorFlow's
    Merger, like protobuf's parsers, would refuse to read it back)."""
    if not isinstance(message, Message):
        raise ProtoSplitterError(f"expected a protobuf message, got {type(message).__name__}")
    if has_required_fields(message.DESCRIPTOR) and not message.IsInitialized():
        missing = ", ".join(message.FindInitializationErrors()[:10])  # type: ignore[attr-defined]
        raise SplitError(f"the {message.DESCRIPTOR.full_name} is missing required fields: {missing}")


# ---- reading -------------------------------------------------------------------------------------------


class RiegeliChunks:
    """A ChunkSource reading chunks lazily from a Riegeli reader by their numeric record positions."""

    def __init__(self, reader: riegeli.RecordReader, infos: Sequence[chunk_pb2.ChunkInfo]):
        self._reader = reader
        self._infos = infos

    def __len__(self) -> int:
        return len(self._infos)

    def chunk_type(self, index: int) -> int:
        return self._infos[index].type

    def get(self, index: int) -> bytes:
        info = self._infos[index]
        if info.offset >= self._reader.size():
            raise ChunkedProtoError(
                f"chunk {index} lies at position {info.offset}, past the end of the file ({self._reader.size()} bytes)"
            )
        self._reader.seek_numeric(info.offset)
        record = self._reader.read_record()
        if record is None:
            raise ChunkedProtoError(f"chunk {index} is missing: no record at position {info.offset}")
        if info.size and len(record) != info.size:
            raise ChunkedProtoError(
                f"chunk {index} at position {info.offset} has {len(record)} bytes, metadata says {info.size}"
            )
        return record


def _strip_extension(path: str) -> str:
    for extension in (".cpb", ".pb"):
        if path.endswith(extension):
            return path[: -len(extension)]
    return path


def resolve(path_or_prefix: PathLike) -> tuple[str, bool]:
    """Finds the file for a prefix or path; returns (path, is_chunked). Prefers `.cpb`, like TensorFlow."""
    given = os.fspath(path_or_prefix)
    if given.endswith((".cpb", ".pb")) and os.path.isfile(given):
        return given, _is_riegeli_file(given)
    prefix = _strip_extension(given)
    for extension in (".cpb", ".pb"):
        if os.path.isfile(prefix + extension):
            return prefix + extension, _is_riegeli_file(prefix + extension)
    if os.path.isfile(given):
        return given, _is_riegeli_file(given)
    raise ChunkedFileNotFoundError(f"no {prefix}.cpb or {prefix}.pb (nor {given}) exists")


def _is_riegeli_file(path: str) -> bool:
    """Whether the file holds a chunked proto: a `.cpb` always does (an empty or damaged one is a damaged
    Riegeli file, never an empty message), another file when it starts with Riegeli's signature."""
    if path.endswith(".cpb"):
        return True
    with open(path, "rb") as handle:
        return handle.read(len(RIEGELI_SIGNATURE)) == RIEGELI_SIGNATURE


class _Opened:
    """An opened source, closed with it (a context manager): a Riegeli reader (chunked) or the bytes of a plain
    `.pb`; `reopen`, another reader over the same bytes (for read-ahead threads); `ranged`, the remote file
    underneath (its chunks are fetched ahead by a read plan); `owned`, what closing also closes (a remote file
    opened here, not one the caller passed)."""

    def __init__(
        self,
        reader: riegeli.RecordReader | None = None,
        plain: Any = None,
        reopen: Callable[[], riegeli.RecordReader] | None = None,
        ranged: remote.RangedFile | None = None,
        owned: remote.RangedFile | None = None,
    ):
        self.reader, self.plain, self._reopen, self._ranged, self._owned = reader, plain, reopen, ranged, owned

    def __enter__(self) -> _Opened:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self.reader is not None:
                self.reader.close()
        finally:
            if self._owned is not None:
                self._owned.close()

    @contextlib.contextmanager
    def chunks(self, metadata: chunk_pb2.ChunkMetadata, order: Sequence[int]) -> Iterator[ChunkSource]:
        """The chunk source for merging `order` (the chunks a merge reads, in its order), fetching ahead:
        remote chunks by a read plan (each chunk's bytes dropped once read), in read-ahead threads when
        another reader can be opened."""
        infos = metadata.chunks
        plan = self._ranged.plan(_chunk_ranges(infos, order)) if self._ranged is not None else None
        entries = {index: position for position, index in reversed(list(enumerate(order)))}

        def source(reader: riegeli.RecordReader) -> ChunkSource:
            chunks = RiegeliChunks(reader, infos)
            return chunks if plan is None else _ReleasingChunks(chunks, plan, entries)

        reader, reopen = self.reader, self._reopen
        if reader is None:
            raise ChunkedProtoError("not a chunked proto: it is a plain serialized message (.pb)")
        try:
            if reopen is None or len(order) < 2:
                yield source(reader)
                return
            ahead = ReadAhead(source(reader), order, lambda: _reopened(reopen, source))
            try:
                yield ahead
            finally:
                ahead.close()
        finally:
            if plan is not None:
                plan.close()


@contextlib.contextmanager
def _reopened(
    reopen: Callable[[], riegeli.RecordReader], source: Callable[[riegeli.RecordReader], ChunkSource]
) -> Iterator[ChunkSource]:
    """A chunk source over a reader of its own (for a read-ahead thread), closed after use."""
    with reopen() as reader:
        yield source(reader)


class _ReleasingChunks:
    """A ChunkSource telling a remote file's read plan when each chunk has been read, so that its bytes are
    dropped at once and the fetching window moves on."""

    def __init__(self, chunks: RiegeliChunks, plan: remote.ReadPlan, entries: Mapping[int, int]):
        self._chunks, self._plan, self._entries = chunks, plan, entries

    def __len__(self) -> int:
        return len(self._chunks)

    def chunk_type(self, index: int) -> int:
        return self._chunks.chunk_type(index)

    def get(self, index: int) -> bytes:
        record = self._chunks.get(index)
        if index in self._entries:
            self._plan.release(self._entries[index])
        return record


def _chunk_ranges(infos: Sequence[chunk_pb2.ChunkInfo], indices: Iterable[int]) -> list[tuple[int, int]]:
    """Byte ranges holding the given chunks, one per index (a generous estimate of their Riegeli framing;
    empty for an index out of range)."""
    ranges = []
    for index in indices:
        if 0 <= index < len(infos):
            offset, size = infos[index].offset, infos[index].size
            ranges.append((offset, riegeli.chunk_end_estimate(offset, size)))
        else:
            ranges.append((0, 0))
    return ranges


def _open_reader(source: Source, storage_options: Mapping[str, Any] | None = None) -> _Opened:
    """Opens a Riegeli reader over a chunked source, or reads the bytes of a plain `.pb`."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if bytes(source[: len(RIEGELI_SIGNATURE)]) == RIEGELI_SIGNATURE:
            return _Opened(riegeli.RecordReader(source))
        return _Opened(plain=source)
    source = remote.local_path(source)
    if isinstance(source, str) and remote.is_remote(source):
        return _open_ranged(open_url(source, storage_options), owned=True)
    if isinstance(source, remote.RangedFile):
        return _open_ranged(source, owned=False)
    if hasattr(source, "read"):
        stream = cast(BinaryIO, source)
        start = stream.tell()
        head = stream.read(len(RIEGELI_SIGNATURE))
        if head != RIEGELI_SIGNATURE:
            return _Opened(plain=head + stream.read())
        stream.seek(start)
        return _Opened(riegeli.RecordReader(stream))
    path, chunked = resolve(cast(PathLike, source))
    if chunked:
        return _Opened(riegeli.RecordReader(path), reopen=lambda: riegeli.RecordReader(path))
    return _Opened(plain=FsPath(path).read_bytes())


def open_url(url: str, storage_options: Mapping[str, Any] | None = None) -> remote.RangedFile:
    """The remote file for a URL or a URL prefix, opened (close it): like resolve(), the URL itself when it ends
    in `.cpb` / `.pb` and exists, else `<prefix>.cpb`, then `<prefix>.pb`."""
    prefix = _strip_extension(url)
    candidates = [url] if url != prefix else []
    candidates += [prefix + ".cpb", prefix + ".pb", url]
    for candidate in dict.fromkeys(candidates):
        try:
            return remote.open_remote(candidate, storage_options=storage_options)
        except remote.RemoteFileNotFoundError:
            continue
    raise ChunkedFileNotFoundError(f"no {prefix}.cpb or {prefix}.pb (nor {url}) exists")


def _open_ranged(ranged: remote.RangedFile, owned: bool) -> _Opened:
    """Reads a remote file: a Riegeli reader sharing it (plans fetch its chunks ahead), or a plain `.pb`'s bytes
    fetched in bounded requests."""
    try:
        if ranged.read_at(0, len(RIEGELI_SIGNATURE)) == RIEGELI_SIGNATURE:
            return _Opened(
                riegeli.RecordReader(ranged),
                reopen=lambda: riegeli.RecordReader(ranged),
                ranged=ranged,
                owned=ranged if owned else None,
            )
        data = bytearray(ranged.size())
        ranged.read_into(0, data)
    except BaseException:
        if owned:
            ranged.close()
        raise
    if owned:
        ranged.close()
    return _Opened(plain=data)


class _Prefixed(io.RawIOBase):
    """A non-seekable stream whose first bytes were already read (to tell `.cpb` from `.pb`)."""

    def __init__(self, head: bytes, rest: BinaryIO):
        super().__init__()
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            count = min(len(view), len(self._head))
            view[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        readinto = getattr(self._rest, "readinto", None)
        if readinto is not None:
            return int(readinto(view) or 0)
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        """Reads from the stream itself once the head is consumed (no copy through readinto)."""
        if size is None or size < 0:
            return super().read(-1)
        if self._head:
            return super().read(size)
        return self._rest.read(size)


class _ReceivedChunks:
    """A ChunkSource over records received from a stream, each released once merged (bounded memory), and the
    heap trimmed as they go (_heap: else the records freed may not serve the message growing from them)."""

    def __init__(self, records: dict[int, bytes], infos: Sequence[chunk_pb2.ChunkInfo]):
        self._records, self._infos = records, infos
        self._releaser = _heap.Releaser()

    def __len__(self) -> int:
        return len(self._infos)

    def chunk_type(self, index: int) -> int:
        return self._infos[index].type

    def get(self, index: int) -> bytes:
        record = self._records.pop(self._infos[index].offset, None)
        if record is None:
            raise ChunkedProtoError(f"chunk {index} (position {self._infos[index].offset}) was not received")
        self._releaser.freed(len(record))  # counted when handed out: the merger drops it once merged
        return record


def _read_stream(stream: BinaryIO, message_class: type[MessageT]) -> MessageT:
    """Reads a message from a non-seekable stream (pipe, socket): the records are kept as they arrive,
    the last one is the ChunkMetadata, and each chunk is released as soon as it is merged."""
    head = b""
    while len(head) < len(RIEGELI_SIGNATURE):  # a raw stream may return fewer bytes than asked for
        more = stream.read(len(RIEGELI_SIGNATURE) - len(head))
        if not more:
            break
        head += more
    if head != RIEGELI_SIGNATURE:
        return _parse_plain(head + stream.read(), message_class)
    records: dict[int, bytes] = {}
    last = None
    with riegeli.RecordReader(_Prefixed(head, stream)) as reader:
        for record in reader.read_records():
            if last is not None:
                records[last[0]] = last[1]
            last = (reader.last_pos.numeric, record)
    if last is None:
        raise ChunkedProtoError("the stream holds no records (no ChunkMetadata)")
    metadata = _parse_metadata(last[1])
    result = message_class()
    Merger(_ReceivedChunks(records, metadata.chunks)).merge(metadata.message, result)
    return result


def _is_stream(source: object) -> bool:
    return hasattr(source, "read") and not (hasattr(source, "seekable") and source.seekable())


def _parse_plain(data: Buffer, message_class: type[MessageT]) -> MessageT:
    try:
        return oversized.parse(message_class, data)
    except ChunkedProtoError as error:
        raise ChunkedProtoError(f"data is not a chunked proto, and {error}") from None


def _read_metadata_record(reader: riegeli.RecordReader) -> chunk_pb2.ChunkMetadata:
    return _parse_metadata(reader.read_last_record())


def _parse_metadata(record: bytes) -> chunk_pb2.ChunkMetadata:
    metadata = chunk_pb2.ChunkMetadata()
    try:
        metadata.ParseFromString(record)
    except DecodeError as error:
        raise ChunkedProtoError(f"the last record is not a ChunkMetadata: {error}") from None
    if not metadata.HasField("message"):
        raise ChunkedProtoError("the last record is not a ChunkMetadata (it has no message tree)")
    check_version(metadata)
    return metadata


def read_metadata(source: Source, *, storage_options: Mapping[str, Any] | None = None) -> chunk_pb2.ChunkMetadata:
    """The ChunkMetadata of a `.cpb` file, read from its last record only (for a URL: its tail).

    Raises:
        ChunkedFileNotFoundError: `source` is a path or prefix and no such file exists.
        RiegeliError: the file is truncated or damaged where its last record lies.
        ChunkedProtoError: the data is not a Riegeli file (it is taken for a plain `.pb`), or its last record is
            not a ChunkMetadata, or it needs a newer merger than this library's.
        ProtoSplitterError: a remote read failed (`proto_splitter.remote.RemoteReadError`, also an OSError).
    """
    with _open_reader(source, storage_options) as opened:
        if opened.reader is None:
            raise ChunkedProtoError("not a chunked proto: it is a plain serialized message (.pb)")
        return _read_metadata_record(opened.reader)


def check_message_class(message_class: object) -> None:
    """Raises ProtoSplitterError unless `message_class` is a protobuf message class."""
    if not (isinstance(message_class, type) and issubclass(message_class, Message)):
        raise ProtoSplitterError(f"expected a protobuf message class, got {message_class!r}")


def read(
    source: Source, message_class: type[MessageT], *, storage_options: Mapping[str, Any] | None = None
) -> MessageT:
    """Reads a whole message from `<prefix>.cpb` / `<prefix>.pb`, a path, a URL (`https://`, `s3://`, ...,
    `storage_options` going to fsspec, or as headers to HTTP), a binary file object or bytes.

    Raises:
        ProtoSplitterError: `message_class` is not a protobuf message class, or a remote read failed
            (`proto_splitter.remote.RemoteReadError`, also an OSError).
        ChunkedFileNotFoundError: `source` is a path or prefix and neither `.cpb` nor `.pb` exists.
        RiegeliError: the `.cpb` is truncated, damaged (a hash mismatch) or not a valid Riegeli file.
        ChunkedProtoError: the data is neither a valid chunked proto nor a valid serialized `message_class`
            (metadata and chunks that disagree, chunks that do not parse, a newer merger needed).
        OSError: a local file exists but cannot be opened.
    """
    check_message_class(message_class)
    if _is_stream(source):
        return _read_stream(cast(BinaryIO, source), message_class)
    with _open_reader(source, storage_options) as opened:
        if opened.reader is None:
            return _parse_plain(opened.plain, message_class)
        metadata = _read_metadata_record(opened.reader)
        result = message_class()
        order = needed_chunks(metadata.message, descriptors.descriptor_of(message_class), None)
        with opened.chunks(metadata, order) as chunks:
            Merger(chunks).merge(metadata.message, result)
        return result


def read_from_bytes(data: bytes, message_class: type[MessageT]) -> MessageT:
    """Reads a message from the output of write_to_bytes (chunked or plain).

    Raises:
        ProtoSplitterError: `message_class` is not a protobuf message class.
        RiegeliError: chunked data is truncated or damaged.
        ChunkedProtoError: the data is neither a valid chunked proto nor a valid serialized `message_class`.
        TypeError: `data` is not bytes-like.
    """
    return read(data if isinstance(data, (bytes, bytearray, memoryview)) else bytes(data), message_class)


FieldSpec = str | Iterable[str] | chunk_pb2.ChunkMetadata


def project(message: MessageT, wanted: Sequence[field_paths.FieldPath]) -> MessageT:
    """A new message holding only the fields of `message` at the given paths.

    The paths are those `proto_splitter.field_paths.parse` returns for the message's type; they are not checked
    again, so project() raises nothing of its own (a path that selects nothing adds nothing).
    """
    result = type(message)()
    for path in wanted:
        field_paths.copy_value(message, result, path)
    return result
