"""The Merger: rebuilds a message (or chosen parts of it) from chunks by following a ChunkedMessage tree.

Semantics follow TensorFlow's C++ Merger: a ChunkedMessage merges its own chunk into the target, then its
chunked fields in TensorFlow's order (by field numbers, indices and keys step by step, shorter paths first,
then by chunk index). A chunk at a message path is merged (repeated fields append), at a bytes/string path it
sets the value; several chunks at the same bytes path concatenate (our extension for values larger than a
chunk, see extensions.py, whose guard fields are skipped). Chunks are fetched lazily from a ChunkSource, so
partial reads touch only the chunks they need; a list element that only a skipped chunk would create stays
empty, so that the elements after it keep their indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from google.protobuf import unknown_fields
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from . import descriptors, extensions, field_paths
from .chunks import BYTES, MESSAGE, Chunk, chunk_type_of
from .errors import ChunkedProtoError
from .field_paths import FieldPath, Index, Key, Segment
from .proto import chunk_pb2
from .splitter import merge_order_key

_T = FieldDescriptor
SUPPORTED_JOIN_VERSION = extensions.VALUE_PIECES_JOIN_VERSION
MessageT = TypeVar("MessageT", bound=Message)  # the message class a caller passes is the type it gets back


class ChunkSource(Protocol):
    """Random access to the chunks of a chunked message."""

    def __len__(self) -> int:
        """Number of chunks."""

    def chunk_type(self, index: int) -> int:
        """ChunkInfo type of chunk `index` (UNSET when unknown)."""

    def get(self, index: int) -> Chunk | memoryview:
        """The contents of chunk `index`: a Message or bytes-like."""


class InMemoryChunks:
    """A ChunkSource over a list of Message/bytes chunks (the output of ps.split)."""

    def __init__(self, chunks: Sequence[Chunk]):
        self._chunks = chunks

    def __len__(self) -> int:
        return len(self._chunks)

    def chunk_type(self, index: int) -> int:
        return chunk_type_of(self._chunks[index])

    def get(self, index: int) -> Chunk:
        return self._chunks[index]


class Merger:
    """Merges chunks from a ChunkSource into a target message, following ChunkedMessage trees. One Merger may
    merge any number of times; each merge uses each chunk at most once."""

    def __init__(self, source: ChunkSource):
        self._source = source
        self._used: set[int] = set()
        self._partial = False

    def merge(
        self, chunked_message: chunk_pb2.ChunkedMessage, target: Message, wanted: Sequence[FieldPath] | None = None
    ) -> None:
        """Merges the tree into target; with `wanted`, only chunks on or below those paths (lazy reads)."""
        self._used = set()
        self._partial = wanted is not None
        self._merge(chunked_message, target, list(wanted) if wanted is not None else None)

    def _chunk(self, index: int, expected_type: int) -> Chunk | memoryview:
        if not 0 <= index < len(self._source):
            raise ChunkedProtoError(f"chunk index {index} is out of range ({len(self._source)} chunks)")
        if index in self._used:
            raise ChunkedProtoError(f"chunk {index} is referenced more than once (cyclic or forged metadata)")
        self._used.add(index)
        actual = self._source.chunk_type(index)
        if actual not in (expected_type, chunk_pb2.ChunkInfo.UNSET):
            names = chunk_pb2.ChunkInfo.Type.Name
            raise ChunkedProtoError(f"chunk {index} has type {names(actual)} but is used as {names(expected_type)}")
        return self._source.get(index)

    def _merge_chunk(self, index: int, target: Message) -> None:
        chunk = self._chunk(index, MESSAGE)
        if isinstance(chunk, Message):
            if chunk.DESCRIPTOR is not target.DESCRIPTOR:
                raise ChunkedProtoError(
                    f"chunk {index} is a {chunk.DESCRIPTOR.full_name}, expected {target.DESCRIPTOR.full_name}"
                )
            if target.ListFields() or len(unknown_fields.UnknownFieldSet(target)):
                target.MergeFrom(chunk)
            else:
                target.CopyFrom(chunk)  # unlike upb's MergeFrom, no re-parse: works at any nesting depth
            return
        try:
            target.MergeFromString(chunk)  # type: ignore[arg-type]  # upb parses any bytes-like (stubs: bytes)
        except DecodeError as error:
            raise ChunkedProtoError(f"chunk {index} is not a valid {target.DESCRIPTOR.full_name}: {error}") from None

    def _merge(
        self, chunked_message: chunk_pb2.ChunkedMessage, target: Message, wanted: list[FieldPath] | None
    ) -> None:
        target.SetInParent()
        if chunked_message.HasField("chunk_index"):
            self._merge_chunk(chunked_message.chunk_index, target)
        fields = _ordered_fields(chunked_message, descriptors.descriptor_of(target), wanted)
        # A partial merge may skip chunked fields that create list elements (one each): that many may be padded.
        pad = len(chunked_message.chunked_fields) if self._partial else 0
        position = 0
        while position < len(fields):
            path, _sub = fields[position]
            run = position + 1
            while run < len(fields) and fields[run][0] == path and path:
                run += 1
            self._apply(path, [item[1] for item in fields[position:run]], target, _below(wanted, path), pad)
            position = run

    def _apply(
        self,
        path: FieldPath,
        subs: list[chunk_pb2.ChunkedMessage],
        target: Message,
        wanted: list[FieldPath] | None,
        pad: int,
    ) -> None:
        """Applies the chunked messages attached at one path (several only for concatenated pieces)."""
        if not path:
            for sub in subs:
                self._merge(sub, target, wanted)
            return
        *way, last = field_paths.resolve(descriptors.descriptor_of(target), path)
        parent = target
        for segment in way:
            parent = _message_at(parent, segment, pad)
        if last.target is not None:
            holder = _message_at(parent, last, pad)
            for sub in subs:
                self._merge(sub, holder, wanted)
            return
        value = b"".join(bytes(self._leaf_chunk(sub)) for sub in subs)
        _set_leaf(parent, last, value)

    def _leaf_chunk(self, sub: chunk_pb2.ChunkedMessage) -> bytes | bytearray | memoryview:
        if sub.chunked_fields or not sub.HasField("chunk_index"):
            raise ChunkedProtoError("a chunk for a non-message field must be a single chunk without fields")
        chunk = self._chunk(sub.chunk_index, BYTES)
        if isinstance(chunk, Message):
            raise ChunkedProtoError(f"chunk {sub.chunk_index} is a message but is used as a field value")
        return chunk


def needed_chunks(
    chunked_message: chunk_pb2.ChunkedMessage, descriptor: Descriptor, wanted: Sequence[FieldPath] | None
) -> list[int]:
    """The chunk indices a merge (restricted to `wanted` paths) will read, in the order it reads them, from
    the metadata alone: so that a reader can fetch them ahead (remote: coalesced; local: in a thread)."""
    indices = [chunked_message.chunk_index] if chunked_message.HasField("chunk_index") else []
    wanted = list(wanted) if wanted is not None else None
    for path, sub in _ordered_fields(chunked_message, descriptor, wanted):
        target = field_paths.target(descriptor, path)
        if target is None:
            indices.append(sub.chunk_index)
        else:
            indices.extend(needed_chunks(sub, target, _below(wanted, path)))
    return indices


def _ordered_fields(
    chunked_message: chunk_pb2.ChunkedMessage, descriptor: Descriptor, wanted: list[FieldPath] | None
) -> list[tuple[FieldPath, chunk_pb2.ChunkedMessage]]:
    """The chunked fields to merge (those related to a wanted path), as (path, ChunkedMessage), in merge order."""
    fields = []
    for chunked_field in chunked_message.chunked_fields:
        if extensions.is_guard_field(chunked_field):
            continue
        path = field_paths.from_field_tags(chunked_field.field_tag, descriptor)
        if wanted is None or not path or any(path.related(want) for want in wanted):
            fields.append((path, chunked_field.message))
    fields.sort(key=lambda item: merge_order_key(*item))
    return fields


def _below(wanted: list[FieldPath] | None, path: FieldPath) -> list[FieldPath] | None:
    """The wanted paths relative to a chunk attached at `path` (None means everything)."""
    if wanted is None:
        return None
    relative = [want[len(path) :] for want in wanted if want.startswith(path)]
    return None if any(not rest for rest in relative) or not relative else relative


def _message_at(parent: Message, segment: Segment, pad: int) -> Message:
    """The sub-message at a segment of parent, created if missing: one new list element, as in TensorFlow's
    Merger, plus up to `pad` empty ones before it (a partial merge skips the chunks creating them)."""
    field, subscript = segment.field, segment.subscript
    if segment.target is None:
        raise ChunkedProtoError(f"path descends into non-message field {field.full_name}")
    holder = descriptors.container(parent, field)
    if descriptors.is_map(field):
        if not isinstance(subscript, Key):
            raise ChunkedProtoError(f"map field {field.full_name} needs a key in the path")
        return holder[subscript.value]  # type: ignore[no-any-return]
    if descriptors.is_repeated(field):
        if not isinstance(subscript, Index):
            raise ChunkedProtoError(f"repeated field {field.full_name} needs an index in the path")
        if subscript.value > len(holder) + pad:
            raise ChunkedProtoError(
                f"index {subscript.value} is out of range for {field.full_name} ({len(holder)} elements)"
            )
        while subscript.value >= len(holder):
            holder.add()
        return holder[subscript.value]  # type: ignore[no-any-return]
    holder.SetInParent()
    return holder  # type: ignore[no-any-return]


def _set_leaf(parent: Message, segment: Segment, data: bytes) -> None:
    """Sets a non-message value from chunk bytes (TensorFlow's text form for numbers, bools and enums)."""
    field, subscript = segment.field, segment.subscript
    if descriptors.is_map(field):
        if not isinstance(subscript, Key):
            raise ChunkedProtoError(f"map field {field.full_name} needs a key in the path")
        descriptors.container(parent, field)[subscript.value] = _leaf_value(descriptors.map_value_field(field), data)
        return
    value = _leaf_value(field, data)
    if not descriptors.is_repeated(field):
        descriptors.set_scalar(parent, field, value)
        return
    if not isinstance(subscript, Index):
        raise ChunkedProtoError(f"repeated field {field.full_name} needs an index in the path")
    elements = descriptors.container(parent, field)
    if subscript.value >= len(elements):
        raise ChunkedProtoError(
            f"index {subscript.value} is out of range for {field.full_name} ({len(elements)} elements)"
        )
    elements[subscript.value] = value


def _leaf_value(field: FieldDescriptor, data: bytes) -> Any:
    kind = field.type
    try:
        if kind == _T.TYPE_BYTES:
            return data
        if kind == _T.TYPE_STRING:
            return data.decode("utf-8")
        text = data.decode("ascii").strip()
        if kind == _T.TYPE_BOOL:
            return text in ("true", "1")
        if kind in (_T.TYPE_DOUBLE, _T.TYPE_FLOAT):
            return float(text)
        if kind == _T.TYPE_ENUM and field.enum_type is not None:
            return field.enum_type.values_by_name[text].number
        return int(text)
    except (UnicodeDecodeError, ValueError, KeyError):
        raise ChunkedProtoError(f"chunk value is not a valid {field.full_name}") from None


def merge(
    chunks: Sequence[Chunk], chunked_message: chunk_pb2.ChunkedMessage, message_class: type[MessageT]
) -> MessageT:
    """Rebuilds a message from in-memory chunks (the output of ps.split).

    Raises:
        ChunkedProtoError: the tree and the chunks disagree (a chunk index out of range, a chunk of the wrong
            kind for its place, a chunk that does not parse, a field path that does not fit `message_class`).
        TypeError: `message_class` is not a protobuf message class.
    """
    result = message_class()
    Merger(InMemoryChunks(chunks)).merge(chunked_message, result)
    return result


def check_version(metadata: chunk_pb2.ChunkMetadata) -> None:
    """Refuses data that needs a newer merger than this one."""
    if metadata.version.join_version > SUPPORTED_JOIN_VERSION:
        raise ChunkedProtoError(
            f"data needs merger version {metadata.version.join_version}; this library supports {SUPPORTED_JOIN_VERSION}"
        )
