"""`ps.open`: a chunked file opened once and then read in any part, in milliseconds at any size.

    with ps.open("model.cpb", GraphDef) as f:
        f.count("node"); f.get("node[123456]"); f.read_partial(["node[3]", "library"])
        for node in f.iter("node"): ...

Opening reads the ChunkMetadata (the last record) and the file's index (index.proto), which locates every element
of a list split over chunks, every map entry and every node by name, and lets a part of a big record be read and
checked alone. A file without an index (written by TensorFlow, or a plain `.pb`) is scanned once at opening
(index_scan). The tree, the index and what lookups learn are kept for the handle's lifetime; a handle may be used
from several threads at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO, Generic

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from . import descriptors, field_paths, files, index_scan, remote, riegeli, wire
from .chunk_tree import TreeNode
from .chunks import MESSAGE
from .errors import ChunkedProtoError, FieldPathError
from .field_paths import FieldPath, Index
from .index import INDEX_VERSION, KeyTable, matching, pages_for
from .index import Index as FileIndex
from .index_builder import KEY_FIELD, is_keyed
from .merger import Merger, MessageT, needed_chunks
from .proto import chunk_pb2
from .records import RawFile, RecordAccess
from .resolver import ElementNotFoundError, Resolver
from .riegeli.format import FILE_SIGNATURE

PathText = str | FieldPath


def open(
    source: files.Source,
    message_class: type[MessageT],
    *,
    use_index: bool = True,
    storage_options: Mapping[str, Any] | None = None,
) -> ChunkedFile[MessageT]:
    """Opens a `.cpb` or `.pb` (a path or prefix, bytes, a binary file object, an http(s) or fsspec URL or URL
    prefix, read with `storage_options`) for reading any part of a message of type `message_class`.
    `use_index=False` ignores the file's index and scans it.

    Raises:
        ProtoSplitterError: `message_class` is not a protobuf message class; a remote read failed.
        ChunkedFileNotFoundError: a path or prefix names no file.
        RiegeliError: the file is damaged where the metadata or the index lies.
        ChunkedProtoError: the metadata is not valid; IndexMismatchError (one) when the index is damaged or was not
            made for this file.
    """
    files.check_message_class(message_class)
    return ChunkedFile(source, message_class, use_index, storage_options)


class ChunkedFile(Generic[MessageT]):
    """An opened chunked (or plain) message file: see the module docstring. Close it (or use `with`)."""

    def __init__(
        self,
        source: files.Source,
        message_class: type[MessageT],
        use_index: bool = True,
        storage_options: Mapping[str, Any] | None = None,
    ):
        self.message_class = message_class
        self.descriptor = descriptors.descriptor_of(message_class)
        self.metadata: chunk_pb2.ChunkMetadata | None = None
        self.indexed = False  # whether the file's own index is used (else one built by scanning it)
        self._closers: list[Callable[[], object]] = []
        self._path: str | None = None
        self._bytes: bytes | bytearray | memoryview | None = None
        self._handle: BinaryIO | None = None
        try:
            self._open(source, use_index, storage_options)
        except BaseException:
            self.close()
            raise

    def _open(self, source: Any, use_index: bool, storage_options: Mapping[str, Any] | None) -> None:
        descriptor = self.descriptor
        source = remote.local_path(source)
        if remote.is_remote(source):
            source = files.open_url(source, storage_options)
            self._closers.append(source.close)
        if hasattr(source, "read") and not (hasattr(source, "seekable") and source.seekable()):
            source = source.read()  # a stream: random access needs its bytes
        start = 0
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._bytes = source
            chunked = bytes(source[: len(files.RIEGELI_SIGNATURE)]) == files.RIEGELI_SIGNATURE
        elif hasattr(source, "read"):
            self._handle = source
            start = source.tell()
            if isinstance(source, remote.RangedFile) and source.url.endswith(".cpb"):
                chunked = True  # a remote .cpb: its first request is for its tail, not its head
                source = _SignatureKnown(source)
            else:
                chunked = source.read(len(files.RIEGELI_SIGNATURE)) == files.RIEGELI_SIGNATURE
                source.seek(start)
        else:
            source, chunked = files.resolve(source)
            self._path = source
        raw = RawFile(source)  # before the reader: a file object's records start where it stands now
        self._closers.append(raw.close)
        prefetch = None
        if self._handle is not None:
            self._handle.seek(start)
            prefetch = getattr(self._handle, "plan", None)
        if not chunked:
            tree = chunk_pb2.ChunkMetadata(
                chunks=[chunk_pb2.ChunkInfo(type=MESSAGE, size=raw.size())],
                message=chunk_pb2.ChunkedMessage(chunk_index=0),
            )
            self._records = RecordAccess(raw, None, tree.chunks, None, prefetch)
            self._records.index = index_scan.scan_index(self._records, tree, descriptor)
            root = tree.message
        else:
            reader = riegeli.RecordReader(source)
            self._closers.append(reader.close)
            record = reader.read_last_record()
            self.metadata = metadata = files._parse_metadata(record)
            self._records = RecordAccess(raw, reader, metadata.chunks, None, prefetch)
            if use_index and metadata.HasField("index") and metadata.index.version == INDEX_VERSION:
                self._records.index = FileIndex.load(reader, metadata, record)
                self.indexed = True
            else:
                self._records.index = index_scan.scan_index(self._records, metadata, descriptor)
            root = metadata.message
        self._resolver = Resolver(TreeNode(root, descriptor, FieldPath()), self._records)

    # ---- questions ---------------------------------------------------------------------------------------------

    def field_path(self, path: PathText) -> FieldPath:
        """A path (text such as ``node[3].attr['value']``, or a FieldPath) checked against the message type."""
        if isinstance(path, FieldPath):
            field_paths.resolve(self.descriptor, path, FieldPathError)
            return path
        return field_paths.parse(path, self.descriptor)

    def get(self, path: PathText) -> Any:
        """The value at a field path (``node[3]``, ``attr['value'].tensor``, ``versions.producer``, ``node``): a
        message, a scalar, a list (a repeated field), or a dict (a map), as protobuf's accessors give it (a field
        that is not set gives its default).

        Raises:
            FieldPathError: the path does not fit the message type.
            ElementNotFoundError: a list element or map entry on the path is not in the message.
            ChunkedProtoError, RiegeliError: the file is damaged where the value lies (IndexMismatchError: its
                index does not match it).
        """
        return self._resolver.value(self.field_path(path))[1]

    def count(self, path: PathText) -> int:
        """The number of elements of the list (or entries of the map) at `path`: for a list split over chunks,
        from the index, without reading its elements."""
        steps = self.field_path(path)
        segments = field_paths.resolve(self.descriptor, steps, FieldPathError)
        if segments and segments[-1].subscript is None and descriptors.is_map(segments[-1].field):
            return len(self.get(steps))
        return self._resolver.count(steps)

    def iter(self, path: PathText) -> Iterator[Any]:
        """Every element of the list at `path`, in order, each chunk read once and a window of it in memory at a
        time; each element comes with what chunks of its own add to it."""
        return (element for _, element in self._resolver.elements(self.field_path(path)))

    def read(self) -> MessageT:
        """The whole message."""
        result = self.message_class()
        if self.metadata is None:
            result.MergeFrom(self._resolver.value(FieldPath())[1])
            return result
        with self._chunks(needed_chunks(self.metadata.message, self.descriptor, None)) as chunks:
            Merger(chunks).merge(self.metadata.message, result)
        return result

    def read_partial(self, fields: files.FieldSpec) -> MessageT:
        """A message with only the given fields filled (list elements before a requested index stay empty), as
        `ps.read_partial`; `fields` may also be a ChunkMetadata whose tree lists the chunks to merge."""
        if isinstance(fields, chunk_pb2.ChunkMetadata):
            if self.metadata is None:
                raise ChunkedProtoError("partial reads by ChunkMetadata need a chunked proto (.cpb), got a .pb")
            merged = self.message_class()
            with self._chunks(needed_chunks(fields.message, self.descriptor, None)) as chunks:
                Merger(chunks).merge(fields.message, merged)
            return merged
        wanted = [self.field_path(text) for text in ([fields] if isinstance(fields, str) else list(fields))]
        result = self.message_class()
        for path in wanted:
            self._place(result, path)
        return result

    def _place(self, result: Message, path: FieldPath) -> None:
        """Puts the value at `path` into `result` as `ps.project` would: what leads to it is created as far as
        the message has it."""
        segments = field_paths.resolve(self.descriptor, path, FieldPathError)
        for depth in range(len(segments), 0, -1):
            prefix = FieldPath(step for segment in segments[:depth] for step in segment.steps())
            try:
                present, value = self._resolver.value(prefix)
            except ElementNotFoundError:
                continue
            last = segments[depth - 1]
            if present and depth == len(segments):
                field_paths.place_value(result, prefix, value)
            elif last.target is not None and (present or last.subscript is not None):
                if last.subscript is not None or not descriptors.is_repeated(last.field):
                    field_paths.place_value(result, prefix, None)
            else:
                continue
            return

    def find(self, path: PathText, key: str) -> int | None:
        """The index of the element of the list at `path` whose key is `key` (a NodeDef's name), or None: from the
        index's key table when it covers the list, else by reading the elements' keys."""
        steps = self.field_path(path)
        segments = field_paths.resolve(self.descriptor, steps, FieldPathError)
        if not segments or segments[-1].subscript is not None or not is_keyed(segments[-1].field):
            raise FieldPathError(f"{path!r} is not a list whose elements have names")
        candidates = self._candidates(steps, segments[-1].field, key)
        if candidates is None:
            hashed = wire.key_hash(key.encode("utf-8"))
            elements = self._resolver.elements(steps, skip_bytes=True, where=(KEY_FIELD, hashed))
            return next((index for index, element in elements if _key_of(element) == key), None)
        for index in candidates:
            element = self._resolver.value(FieldPath((*steps, Index(index))), skip_bytes=True)[1]
            if _key_of(element) == key:
                return index
        return None

    def _candidates(self, steps: FieldPath, field: FieldDescriptor, key: str) -> list[int] | None:
        """The indices the key table gives for `key` (every element with that key is among them), or None when
        no key table covers the whole list."""
        index = self._records.index
        node = _single_node_at(self._resolver.root, steps[:-1])
        if index is None or node is None:
            return None
        table = index.key_tables.get((node.position, field.number))
        if table is None and not self.indexed:  # a scanned file: its key tables are made when first needed
            table = index_scan.key_table(self._records, node, field.number)
            if table is not None:
                index.key_tables[(node.position, field.number)] = table
        if table is None:
            return None
        created = [i for i in node.family(field.number).indices().tolist() if i >= table.count]
        if self._resolver.count(steps) != table.count + len(created):
            return None  # elements come from elsewhere too: the table's ordinals are not list indices
        hashed = wire.key_hash(key.encode("utf-8"))
        return sorted(set(self._lookup(table, hashed))) + created

    def _lookup(self, table: KeyTable, hashed: int) -> list[int]:
        """The ordinals of a key table's entries with key hash `hashed` (a page or two of a paged table)."""
        if table.entries is not None:
            return matching(table.entries, hashed)
        found = matching(table.owner_entries, hashed)
        index = self._records.index
        if found or index is None:
            return found
        for page in pages_for(table.fences, hashed):
            start, end = page * index.span_size, min(table.record_size, (page + 1) * index.span_size)
            data = self._records.read_record(
                table.record_offset, table.record_size, table.record_span_hashes, start, end
            )
            found.extend(matching(np.frombuffer(data, dtype="<u8"), hashed))
        return found

    # ---- plumbing ----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _chunks(self, order: list[int]) -> Iterator[Any]:
        """The chunk source of a whole merge: from a reader of its own, fetching ahead (a path: in threads), or
        for a file object through the handle's records (one position, shared)."""
        assert self.metadata is not None
        if self._handle is not None:
            plan = getattr(self._handle, "plan", None)
            with plan(files._chunk_ranges(self.metadata.chunks, order)) if plan else contextlib.nullcontext():
                yield self._resolver.chunks
            return
        source = self._path if self._path is not None else self._bytes
        assert source is not None  # a handle holds a path, bytes or a file object
        with files._open_reader(source) as opened:
            with opened.chunks(self.metadata, order) as chunks:
                yield chunks

    @property
    def resolver(self) -> Resolver:
        """What answers path questions (for readers built on a handle, such as pstf.open_graph)."""
        return self._resolver

    def close(self) -> None:
        """Closes what the handle opened (never a file object the caller passed)."""
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> ChunkedFile[MessageT]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _SignatureKnown:
    """A remote `.cpb`, as a positioned reader, whose first 64 bytes, Riegeli's file signature, are taken as read
    (the reader checks them first; fetching them would cost a request of their own, for bytes that hashes do not
    protect anyway: every chunk header, every record and the index are checked with their hashes)."""

    def __init__(self, remote_file: remote.RangedFile):
        self._file = remote_file

    def size(self) -> int:
        """The file's size."""
        return self._file.size()

    def read_into(self, position: int, out: Any) -> int:
        """Fills `out` from `position` (the signature from memory); the number of bytes read."""
        view = memoryview(out).cast("B")
        count = max(0, min(len(view), len(FILE_SIGNATURE) - position))
        view[:count] = FILE_SIGNATURE[position : position + count]
        return count + (self._file.read_into(position + count, view[count:]) if count < len(view) else 0)


def _key_of(element: Message) -> Any:
    return descriptors.container(element, descriptors.descriptor_of(element).fields_by_number[KEY_FIELD])


def _single_node_at(root: TreeNode, base: FieldPath) -> TreeNode | None:
    """The one ChunkedMessage whose message is at `base` (None when there are none or several)."""
    found: list[TreeNode] = []
    pending = [root]
    while pending:
        node = pending.pop()
        if node.base == base:
            found.append(node)
            continue
        rest = base[len(node.base) :]
        pending.extend(child for path, child in node.fields_along(rest) if path and rest.startswith(path))
    return found[0] if len(found) == 1 else None


def read_partial(
    source: files.Source,
    message_class: type[MessageT],
    fields: files.FieldSpec,
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> MessageT:
    """Reads only the given fields (paths like ``node[3]``, ``attr['value']``), touching only their chunks (and
    with the file's index, only the parts of chunks that hold them).

    Returns a message of the same type in which only those fields are filled (list elements before a
    requested index stay empty). `fields` may also be a ChunkMetadata whose tree lists the chunks to merge,
    as TensorFlow's Merger::ReadPartial takes; then the merged result is returned as is. A thin call on a
    handle (`open`), which keeps the file open for more.

    Raises:
        FieldPathError: a path is malformed or does not name a field of `message_class`.
        ChunkedProtoError: `fields` is a ChunkMetadata but the source is a plain `.pb`; or, as for read(), the
            data is not a valid chunked proto or serialized `message_class`.
        ProtoSplitterError, ChunkedFileNotFoundError, RiegeliError, OSError: as for read().
    """
    files.check_message_class(message_class)
    if not isinstance(fields, chunk_pb2.ChunkMetadata):
        descriptor = descriptors.descriptor_of(message_class)
        for text in [fields] if isinstance(fields, str) else list(fields):
            field_paths.parse(text, descriptor)  # bad paths fail before the file is opened
    if files._is_stream(source):
        source = source.read()  # type: ignore[union-attr]
    with open(source, message_class, storage_options=storage_options) as handle:
        return handle.read_partial(fields)
