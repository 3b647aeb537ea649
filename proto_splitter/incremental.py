"""The layout side of ps.Writer: a message given piece by piece (a value, a list element, a map entry at a time) cut
into chunks by the generic splitter's own walk, so that its files follow the same rules (see splitter.py) and
TensorFlow's Merger reads them. Knows nothing of files: chunks go to a ChunkSink as they are made.

Each message that calls write into piece by piece is a scope: the root, or a singular message field on the way to
a field written into. A scope's pieces (the serialized occurrences of what was written into it, big parts cut out
by the walk) stream in call order: the root's fill its own chunk first, then fragment chunks merged at its path, as
do those of any other scope. TensorFlow's Merger merges a message's chunk, then fragments in chunk order, shorter
paths first, so every list keeps the order of the calls. A group cannot be walked through by path: a group scope
is a nested ChunkedMessage of its own, like the splitter makes for a big group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from . import descriptors, wire
from .chunks import ChunkSink
from .field_paths import Field, FieldPath, Index, MapKeyValue
from .proto import chunk_pb2
from .splitter import (
    _RUN_BYTES,
    GenericSplitter,
    _At,
    _minimal_message,
    _Owner,
    _placeholder,
    _Stream,
    _Walk,
)

Buffer = bytes | bytearray | memoryview
Extra = dict[FieldPath, memoryview]  # bytes values supplied beside a message, by path below it


@dataclass
class Scope:
    """A message written into piece by piece: where it is (`at`), where its pieces go (`stream`), how many elements
    each of its lists has so far, and for a group the nested ChunkedMessage's owner to attach at the end."""

    descriptor: Descriptor
    at: _At
    stream: _Stream
    counts: dict[int, int] = dataclass_field(default_factory=dict)
    nested: tuple[_Owner, _At] | None = None  # (its owner, where it attaches in the parent's owner)

    def take_indices(self, field: FieldDescriptor, count: int) -> int:
        """Reserves `count` list indices of `field`; returns the first."""
        first = self.counts.get(field.number, 0)
        self.counts[field.number] = first + count
        return first


class IncrementalSplit:
    """Lays out one message of type `descriptor` from pieces given in order, into `sink`, under `splitter`'s limits.
    The methods place one kind of piece each; `finish()` returns the root ChunkedMessage once all are given."""

    def __init__(self, descriptor: Descriptor, splitter: GenericSplitter, sink: ChunkSink) -> None:
        self._walk = _Walk(splitter, sink)
        self._root_owner, stream = self._walk.open_owner(_Owner(descriptor, nesting=0))
        self._scopes: dict[FieldPath, Scope] = {FieldPath(): Scope(descriptor, stream.at, stream)}
        self._budget = max(1, min(_RUN_BYTES, splitter.max_chunk_size // 4))

    def scope(self, path: FieldPath) -> Scope:
        """The scope of the message at `path` (singular message fields from the root), made with those on the way
        when new: a required field on the way, or a message with required fields, keeps a placeholder in its parent
        (TensorFlow's Merger refuses to leave a message uninitialized)."""
        found = self._scopes.get(path)
        if found is not None:
            return found
        parent = self.scope(path[:-1])
        step = path[-1]
        assert isinstance(step, Field)
        field = descriptors.find_field(parent.descriptor, step.number)
        assert field is not None
        assert field.message_type is not None
        if field.is_required or _minimal_message(field.message_type):
            parent.stream.add(_placeholder(field))
        if field.type == FieldDescriptor.TYPE_GROUP:  # TensorFlow's Merger cannot walk through a group
            owner = parent.at.owner.nested(field.message_type, FieldPath((*parent.at.path, step)))
            _, stream = self._walk.open_owner(owner)
            scope = Scope(field.message_type, stream.at, stream, nested=(owner, parent.at.to((step,))))
        else:
            at = parent.at.to((step,))
            scope = Scope(field.message_type, at, _Stream(self._walk, at, None))
        self._scopes[path] = scope
        return scope

    # ---- pieces ----------------------------------------------------------------------------------------------

    def message_value(self, scope: Scope, field: FieldDescriptor, value: Message, extra: Extra | None) -> None:
        """A singular message field's value, walked as the splitter walks a sub-message held as an object;
        `extra`: bytes values supplied beside it, by path below it (see _Walk.walk_object). A group or an extension
        (which TensorFlow's Merger cannot walk through) is walked serialized, as the splitter walks them."""
        if field.is_extension or field.type == FieldDescriptor.TYPE_GROUP:
            data = memoryview(_serialize_in(scope, field, value))
            self._walk.walk_wire(scope.descriptor, data, 0, len(data), scope.at, scope.stream)
            return
        self._walk.place_object(field, value, scope.at.to((Field(field.number),)), scope.stream, 1, extra=extra)

    def message_elements(self, scope: Scope, field: FieldDescriptor, elements: Sequence[Message]) -> None:
        """Elements of a repeated message field, in order: small ones in runs, big ones walked one by one
        (extensions, which TensorFlow's Merger cannot address, whole)."""
        if field.is_extension:
            holder = message_factory.GetMessageClass(scope.descriptor)()
            descriptors.container(holder, field).extend(elements)
            self.serialized(scope, field, holder.SerializePartialToString(deterministic=True))
            return
        first = scope.take_indices(field, len(elements))
        place = scope.at.to((Field(field.number),))
        self._walk.place_elements(field, elements, first, place, scope.stream, 0, self._budget)

    def message_element(self, scope: Scope, field: FieldDescriptor, element: Message, extra: Extra) -> None:
        """One element of a repeated message field with bytes values supplied beside it (see message_value)."""
        place = scope.at.to((Field(field.number), Index(scope.take_indices(field, 1))))
        self._walk.place_object(field, element, place, scope.stream, 1, extra=extra)

    def bytes_value(self, scope: Scope, field: FieldDescriptor, data: Buffer) -> None:
        """A singular bytes/string field's value (not an extension): inline when small, else a chunk of its own."""
        self._walk.place_bytes(field, data, scope.at, scope.stream)

    def map_entry(
        self, scope: Scope, field: FieldDescriptor, key: MapKeyValue, value: Message, extra: Extra | None
    ) -> None:
        """An entry of a map with message values, placed as the splitter places an entry held as an object."""
        holder_class = message_factory.GetMessageClass(scope.descriptor)
        self._walk.place_map_objects(holder_class, field, {key: value}, scope.at, scope.stream, 1, extra=extra)

    def serialized(self, scope: Scope, field: FieldDescriptor, data: bytes) -> None:
        """Serialized occurrences of one field of the scope's message (scalars, repeated bytes elements, scalar map
        entries, extensions): pieces in order, under the splitter's rules for fields TensorFlow's Merger cannot
        address (checked whole, packed scalars larger than a chunk cut at element boundaries, values larger than a
        chunk cut into pieces with cut_values)."""
        view = memoryview(data)
        occurrences = list(wire.scan(view))
        first = scope.take_indices(field, len(occurrences)) if _indexed(field) else 0
        for offset, occurrence in enumerate(occurrences):
            for piece in self._walk.fragment_pieces(field, view, occurrence, scope.at, first + offset):
                scope.stream.add(piece)

    def finish(self) -> chunk_pb2.ChunkedMessage:
        """Writes what is pending, deepest scopes first; returns the root ChunkedMessage."""
        for path in sorted(self._scopes, key=len, reverse=True):
            scope = self._scopes[path]
            if scope.nested is not None:
                owner, place = scope.nested
                place.owner.attach(place.path, self._walk.close_owner(owner, scope.stream))
            elif path:
                scope.stream.finish()
        return self._walk.close_owner(self._root_owner, self._scopes[FieldPath()].stream)


def _indexed(field: FieldDescriptor) -> bool:
    """Whether the occurrences of `field` are list elements (their index names a cut value's pieces)."""
    return descriptors.is_repeated(field) and not descriptors.is_map(field)


def _serialize_in(scope: Scope, field: FieldDescriptor, value: Message) -> bytes:
    """The serialized occurrence of the singular message field `field` holding `value`, in the scope's type."""
    holder = message_factory.GetMessageClass(scope.descriptor)()
    descriptors.container(holder, field).CopyFrom(value)
    return holder.SerializePartialToString(deterministic=True)
