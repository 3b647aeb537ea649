"""`ComposableSplitter`: hand-written splitters composed from child splitters, with the shape of TensorFlow's
Python `ComposableSplitter` (`build_chunks`, `add_chunk`, `split`, `write`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from . import _atomic, descriptors, field_paths
from .chunks import Chunk
from .errors import FieldPathError, SplitError
from .field_paths import FieldPath, Index, Key, Segment, Step
from .files import _strip_extension, version_def, write_chunks
from .proto import chunk_pb2, versions_pb2
from .splitter import _Owner

FieldTags = str | int | Sequence[str | int | bool] | Sequence[chunk_pb2.FieldIndex]


def to_path(field_tags: FieldTags, descriptor: Descriptor) -> FieldPath:
    """Converts TensorFlow-style field tags (names or numbers of fields, each optionally followed by a map key
    or a list index; a path string; FieldIndex protos) relative to `descriptor` into a FieldPath."""
    if isinstance(field_tags, str):
        return field_paths.parse(field_tags, descriptor)
    items: list[Any] = [field_tags] if isinstance(field_tags, int) else list(field_tags)
    if items and all(isinstance(item, chunk_pb2.FieldIndex) for item in items):
        return field_paths.from_field_tags(items, descriptor)
    steps: list[Step] = []
    current: Descriptor | None = descriptor
    position = 0
    while position < len(items):
        item = items[position]
        if current is None:
            raise FieldPathError(f"{item!r} in {items!r} descends into a non-message field")
        field = _field_named(current, item)
        position += 1
        subscript: Index | Key | None = None
        if position < len(items) and descriptors.is_repeated(field):
            subscript = Key(items[position]) if descriptors.is_map(field) else Index(int(items[position]))
            position += 1
        segment = Segment(field, subscript)
        steps.extend(segment.steps())
        current = segment.target
    return FieldPath(steps)


def _field_named(descriptor: Descriptor, item: object) -> FieldDescriptor:
    """The field of `descriptor` that a TensorFlow-style tag names: by name (str) or number (int)."""
    field = None
    if isinstance(item, str):
        field = descriptor.fields_by_name.get(item)
    elif isinstance(item, int) and not isinstance(item, bool):
        field = descriptors.find_field(descriptor, item)
    if field is None:
        raise FieldPathError(f"{item!r} is not a field of {descriptor.full_name}")
    return field


class ComposableSplitter:
    """A splitter for one message that can delegate parts to child splitters.

    Subclasses override build_chunks() and call add_chunk(); users call split() or write(). A child
    splitter (parent_splitter=..., fields_in_parent=...) adds its chunks to the root splitter's list."""

    def __init__(
        self,
        proto: Message,
        *,
        proto_as_initial_chunk: bool = True,
        parent_splitter: ComposableSplitter | None = None,
        fields_in_parent: FieldTags | None = None,
    ) -> None:
        self._proto = proto
        self._parent = parent_splitter
        self._built = False
        self._path_in_parent = FieldPath()
        if parent_splitter is not None:
            if fields_in_parent is None:
                raise SplitError("a child splitter needs fields_in_parent")
            relative = to_path(fields_in_parent, descriptors.descriptor_of(parent_splitter._proto))
            self._path_in_parent = parent_splitter._path_in_parent + relative
            return
        self._chunks: list[Chunk] = [proto] if proto_as_initial_chunk else []
        self._entries: list[tuple[FieldPath, int]] = []
        self._initial = proto_as_initial_chunk

    def _root(self) -> ComposableSplitter:
        return self if self._parent is None else self._parent._root()

    @property
    def version_def(self) -> versions_pb2.VersionDef:
        """Version information about this splitter and the merger it needs."""
        return version_def()

    def build_chunks(self) -> None:
        """Creates the chunks by calling add_chunk(); the base class adds none (the message stays whole)."""

    def add_chunk(self, chunk: Chunk, field_tags: FieldTags, index: int | None = None) -> None:
        """Adds a chunk merged at `field_tags` (relative to this splitter's proto); `index` inserts it at a
        given position of the chunk list instead of appending."""
        if self._parent is not None:
            root = self._root()
            root._add(chunk, self._path_in_parent + to_path(field_tags, descriptors.descriptor_of(self._proto)), index)
        else:
            self._add(chunk, to_path(field_tags, descriptors.descriptor_of(self._proto)), index)

    def _add(self, chunk: Chunk, path: FieldPath, index: int | None) -> None:
        position = len(self._chunks) if index is None else index
        self._chunks.insert(position, chunk)
        self._entries = [(p, i + 1 if i >= position else i) for p, i in self._entries]
        self._entries.append((path, position))

    def split(self) -> tuple[list[Chunk], chunk_pb2.ChunkedMessage]:
        """Builds the chunks once and returns them with the ChunkedMessage tree."""
        if self._parent is not None:
            raise SplitError("call split() on the root splitter; a child's chunks belong to its parent")
        if not self._built:
            self.build_chunks()
            self._built = True
        owner = _Owner(descriptors.descriptor_of(self._proto), nesting=0)
        for path, position in self._entries:
            owner.attach(path, chunk_pb2.ChunkedMessage(chunk_index=position))
        initial = self._chunks.index(self._proto) if self._initial else None
        return list(self._chunks), owner.chunked_message(initial)

    def write(self, file_prefix: str | os.PathLike[str], writer_options: str | None = None) -> str:
        """Writes `<prefix>.cpb` (or `<prefix>.pb` when nothing was split off); returns the path."""
        if self._parent is not None:
            raise SplitError("call write() on the root splitter")
        chunks, chunked_message = self.split()
        prefix = _strip_extension(os.fspath(file_prefix))
        if not chunked_message.chunked_fields:
            path = prefix + ".pb"
            _atomic.write_bytes(path, self._proto.SerializeToString(deterministic=True))
            return path
        path = prefix + ".cpb"
        write_chunks(chunks, chunked_message, path, writer_options)
        return path
