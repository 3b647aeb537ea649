"""The generic, descriptor-driven splitter: cuts any message into chunks that TensorFlow's C++ Merger merges back
into exactly that message.

How a message is cut:
- A `bytes`/`string` value of at least `value_threshold` bytes becomes a BYTES chunk at its field path
  (`[field]`). A value larger than `max_chunk_size` stays one chunk, as in TensorFlow's splitters:
  `max_chunk_size` bounds message chunks, not single values. A value over 2 GiB, which TensorFlow cannot hold,
  is refused with a SplitError unless `cut_values=True`, which cuts every value larger than a chunk into pieces
  joined by concatenation (proto-splitter's extension: see `extensions.py`, TensorFlow refuses such files).
- A sub-message of at least `value_threshold` bytes is walked; its skeleton stays inline when small, otherwise
  it moves to fragment chunks merged into the message at its path. Under a map key, and for a singular group
  (TensorFlow's Merger cannot walk a path through one), the value becomes a nested ChunkedMessage.
- What TensorFlow's Merger cannot address by path moves, when big, to fragments (serialized pieces of the
  parent merged by MergeFromString): packed repeated scalars, repeated `bytes`/`string` elements, scalar map
  values, extensions, unknown fields, and map entries whose 64-bit key TensorFlow would truncate to 32 bits.
  All occurrences of such a field move together, so repeated fields keep their order. An occurrence larger
  than `max_chunk_size` is a fragment of its own (packed scalars are cut at element boundaries instead).
- A skeleton still larger than `max_chunk_size` is sliced at field boundaries; the tail goes to fragments.
- proto2 required fields: TensorFlow's MergeFromString refuses to leave a message uninitialized, so wherever a
  required field moves out of a chunk that creates its message, a minimal placeholder stays (empty bytes, a
  message of defaults) and the merge then overwrites it.
- No chunk holds messages nested deeper than MAX_CHUNK_DEPTH, so every chunk parses within protobuf's
  recursion limit even for messages nested hundreds deep.

The top levels of the message are walked as Python objects (serializing list elements one by one), the rest
at the wire level: upb's ByteSize()/SerializeToString() of a multi-GiB message is slow and doubles memory,
while per-element serialization costs one pass and bounded memory. Chunks stream into a ChunkSink.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import numpy as np
import numpy.typing as npt
from google.protobuf import message_factory, unknown_fields
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import EncodeError, Message

from . import descriptors, element_runs, extensions, field_paths, wire
from .chunks import BYTES, MESSAGE, ChunkSink
from .errors import SplitError
from .field_paths import Field, FieldPath, Index, Key
from .proto import chunk_pb2

PROTOBUF_LIMIT = (1 << 31) - 1
DEFAULT_MAX_CHUNK_SIZE = PROTOBUF_LIMIT - (1 << 16)
VALUE_THRESHOLD = 1 << 20
MAX_CHUNK_DEPTH = 80
MAX_NESTING = 24
_OBJECT_DEPTH = 6
_FEW_ELEMENTS = 8
_RUN_BYTES = 1 << 20  # small elements of a long repeated field are serialized together, this much at a time
_SIZE_BATCH = 1 << 14  # elements sized in one C-speed pass
_INT32_KEYS = range(-(1 << 31), 1 << 31)  # map keys TensorFlow's Merger keeps exact (it converts keys to int)

_T = FieldDescriptor
_MESSAGE_TYPES = (_T.TYPE_MESSAGE, _T.TYPE_GROUP)
_BYTES_TYPES = (_T.TYPE_BYTES, _T.TYPE_STRING)
_WIDE_KEYS = (_T.TYPE_INT64, _T.TYPE_SINT64, _T.TYPE_SFIXED64, _T.TYPE_UINT64, _T.TYPE_FIXED64)
_FIXED_WIDTH = {
    _T.TYPE_DOUBLE: 8,
    _T.TYPE_FIXED64: 8,
    _T.TYPE_SFIXED64: 8,
    _T.TYPE_FLOAT: 4,
    _T.TYPE_FIXED32: 4,
    _T.TYPE_SFIXED32: 4,
}


@dataclass
class _Owner:
    """A ChunkedMessage under construction: the chunked fields attached to one message, by relative path.

    `prefix` is the owner's own path from the root message, of type `root` (for error messages)."""

    descriptor: Descriptor
    nesting: int
    prefix: FieldPath = dataclass_field(default_factory=FieldPath)
    root: Descriptor | None = None
    items: list = dataclass_field(default_factory=list)
    fragment_chunks: int = 0

    def attach(self, path: FieldPath, chunked_message: chunk_pb2.ChunkedMessage) -> None:
        self.items.append((path, chunked_message))

    def nested(self, descriptor: Descriptor, path: FieldPath) -> _Owner:
        """The owner of a nested ChunkedMessage for the message of type `descriptor` at `path`."""
        return _Owner(descriptor, self.nesting + 1, self.prefix + path, self.root or self.descriptor)

    def chunked_message(self, chunk_index: int | None) -> chunk_pb2.ChunkedMessage:
        """The finished ChunkedMessage, its fields in the order TensorFlow's Merger applies them."""
        result = chunk_pb2.ChunkedMessage()
        if chunk_index is not None:
            result.chunk_index = chunk_index
        for path, sub in sorted(self.items, key=lambda item: merge_order_key(item[0], item[1])):
            result.chunked_fields.add(field_tag=field_paths.to_field_tags(path, self.descriptor), message=sub)
        return result


def merge_order_key(path: FieldPath, chunked_message: chunk_pb2.ChunkedMessage) -> tuple:
    """Sort key giving TensorFlow's merge order: by field numbers/indices/keys step by step, shorter paths
    first, then by chunk index. (TensorFlow leaves map keys unordered; we order them to be deterministic.)"""
    steps = tuple(
        (1, type(step.value).__name__, step.value) if isinstance(step, Key) else (0, _number(step)) for step in path
    )
    return steps, chunked_message.chunk_index


def _number(step: Field | Index) -> int:
    return step.number if isinstance(step, Field) else step.value


@dataclass(frozen=True)
class _At:
    """Where the walk is: a path below `owner`, and the nesting depth (within its chunk) of the message there,
    or of the message holding the value there."""

    path: FieldPath
    owner: _Owner
    depth: int

    def to(self, steps: tuple, levels: int = 0) -> _At:
        """The place `steps` further down, `levels` messages deeper."""
        return _At(self.path + steps, self.owner, self.depth + levels)

    def describe(self) -> str:
        """The absolute path as text, for error messages."""
        owner = self.owner
        return field_paths.format_path(owner.prefix + self.path, owner.root or owner.descriptor) or "the message"


@dataclass
class _Skeleton:
    """What remains of a message once its big parts are cut out: pieces, one per kept field occurrence (or a run of
    occurrences of one field)."""

    pieces: list = dataclass_field(default_factory=list)
    size: int = 0
    changed: bool = False

    def add(self, piece) -> None:
        self.pieces.append(piece)
        self.size += len(piece)


class _Stream(_Skeleton):
    """The skeleton of an owner's message written out as it grows, so that memory holds about one chunk of it: the
    first pieces fill the owner's own chunk (reserved as `chunk_index`, merged first), the rest go in order into
    fragment chunks merged at `at`, each filled up to max_chunk_size before it is written. Without `chunk_index`
    every piece goes to fragments (the pieces of a message that has no chunk of its own: a Writer's scope).

    The chunks are those the owner's whole skeleton would give at once: the owner's chunk keeps the longest head
    that leaves room for the required fields' placeholders, and holds everything when it all fits."""

    def __init__(self, walk: _Walk, at: _At, chunk_index: int | None) -> None:
        super().__init__()
        self.walk, self.at, self.chunk_index = walk, at, chunk_index
        self.head_open = chunk_index is not None
        self.group: list = []
        self.group_size = 0

    def add(self, piece) -> None:
        if self.head_open:
            super().add(piece)
            if self.size > self.walk.limit:
                self.close_head()
            return
        if self.group and self.group_size + len(piece) > self.walk.limit:
            self.walk.emit_fragments(self.group, self.at)
            self.group, self.group_size = [], 0
        self.group.append(piece)
        self.group_size += len(piece)

    def close_head(self) -> None:
        """Fills the owner's chunk with the head of the pieces and its required fields' placeholders; the rest
        starts the fragments."""
        descriptor = self.at.owner.descriptor
        reserve = len(_minimal_message(descriptor))
        if reserve > self.walk.limit:
            raise SplitError(
                f"the required fields of {descriptor.full_name} need {reserve} bytes even at their defaults, "
                f"more than max_chunk_size {self.walk.limit}"
            )
        kept, size = [], 0
        for piece in self.pieces:
            if size + len(piece) > self.walk.limit - reserve:
                break
            kept.append(piece)
            size += len(piece)
        rest = self.pieces[len(kept) :]
        kept.extend(_missing_required(descriptor, kept))
        self.walk.sink.fill(self.chunk_index, _joined(kept), MESSAGE)
        self.head_open, self.pieces, self.size = False, [], 0
        for piece in rest:
            self.add(piece)

    def finish(self) -> None:
        """Writes what is pending: the owner's chunk when everything fit in it, else the last fragment."""
        if self.head_open:
            self.walk.sink.fill(self.chunk_index, _joined(self.pieces), MESSAGE)
            self.head_open, self.pieces, self.size = False, [], 0
        if self.group:
            self.walk.emit_fragments(self.group, self.at)
            self.group, self.group_size = [], 0


class GenericSplitter:
    """Splits one message into chunks of at most max_chunk_size bytes (single values excepted, see the module
    docstring), streaming them into a ChunkSink. `cut_values=True` also cuts values larger than a chunk."""

    def __init__(
        self, max_chunk_size: int = DEFAULT_MAX_CHUNK_SIZE, value_threshold: int | None = None, *, cut_values=False
    ):
        if max_chunk_size < 64:
            raise SplitError(f"max_chunk_size must be at least 64 bytes, got {max_chunk_size}")
        self.max_chunk_size = max_chunk_size
        self.value_threshold = min(max_chunk_size - 32, value_threshold or VALUE_THRESHOLD)
        self.cut_values = cut_values

    def split(self, message: Message, sink: ChunkSink, serialized=None) -> chunk_pb2.ChunkedMessage:
        """Cuts `message` into chunks added to `sink`; returns the root ChunkedMessage (root chunk index 0).

        `serialized`, the message's deterministic serialization when the caller made it (see serialize_at_once),
        is where the elements of its long repeated fields are cut from, instead of serializing them again."""
        walk = _Walk(self, sink)
        whole = memoryview(serialized).cast("B") if serialized is not None else None
        return walk.root(message.DESCRIPTOR, lambda at, into: walk.walk_object(message, at, 0, into, whole=whole))

    def split_serialized(self, descriptor: Descriptor, data, sink: ChunkSink) -> chunk_pb2.ChunkedMessage:
        """Like split(), for a message given by its serialization: works on messages nested too deep for
        protobuf's parser, since every chunk is cut at most MAX_CHUNK_DEPTH deep."""
        view = memoryview(data).cast("B")
        walk = _Walk(self, sink)
        return walk.root(descriptor, lambda at, into: walk.walk_wire(descriptor, view, 0, len(view), at, into))


class _Walk:
    """One split: walks a message under a GenericSplitter's limits, adding chunks to `sink`."""

    def __init__(self, config: GenericSplitter, sink: ChunkSink):
        self.limit = config.max_chunk_size
        self.threshold = config.value_threshold
        self.cut_values = config.cut_values
        self.sink = sink
        self.pieces_used = False

    def root(self, descriptor: Descriptor, walk: Callable[[_At, _Skeleton], object]) -> chunk_pb2.ChunkedMessage:
        """Walks the root message into a stream of its own chunk and fragments; returns its ChunkedMessage,
        guarded when values were cut into pieces."""
        owner, stream = self.open_owner(_Owner(descriptor, nesting=0))
        walk(stream.at, stream)
        return self.close_owner(owner, stream)

    def open_owner(self, owner: _Owner) -> tuple[_Owner, _Stream]:
        """Reserves the chunk of an owner's message and opens the stream its skeleton goes into."""
        return owner, _Stream(self, _At(FieldPath(), owner, 0), self.sink.reserve())

    def close_owner(self, owner: _Owner, stream: _Stream) -> chunk_pb2.ChunkedMessage:
        """Writes what the owner's stream holds; returns the owner's ChunkedMessage (guarded at the root)."""
        stream.finish()
        chunked_message = owner.chunked_message(stream.chunk_index)
        if self.pieces_used and owner.nesting == 0:
            extensions.add_guard(chunked_message)
        return chunked_message

    # ---- walking -------------------------------------------------------------------------------------

    def walk_object(
        self,
        message: Message,
        at: _At,
        object_depth: int,
        into: _Skeleton | None = None,
        *,
        whole=None,
        extra: dict | None = None,
    ) -> _Skeleton:
        """Walks a message held as a Python object: big message fields object by object, the rest as wire.

        `whole`: the message's serialization, where long repeated fields are cut from. `extra`: bytes values
        supplied beside the object, by path below it (a Writer's buffers): placed as if the object held them."""
        has_unknown = len(unknown_fields.UnknownFieldSet(message)) > 0
        if has_unknown and extra:
            raise SplitError(f"{at.describe()} has unknown fields: bytes values cannot be supplied beside it")
        if (object_depth >= _OBJECT_DEPTH and not extra) or has_unknown:
            data = message.SerializePartialToString(deterministic=True)
            return self.walk_wire(message.DESCRIPTOR, memoryview(data), 0, len(data), at, into)
        here, below = _split_extra(extra)
        rest = type(message)()
        object_fields, values, maps = [], [], []
        for field, value in message.ListFields():
            kind = _object_kind(field, value, self.threshold)
            if kind is None:
                descriptors.copy_field(rest, field, value)
            else:
                {"message": object_fields, "value": values, "map": maps}[kind].append((field, value))
        listed = {field.number for field, _ in object_fields + maps}
        for number in below.keys() - listed:  # messages that only the supplied values create
            field = message.DESCRIPTOR.fields_by_number[number]
            found = (field, descriptors.container(message, field))
            (maps if descriptors.is_map(field) else object_fields).append(found)
        data = rest.SerializePartialToString(deterministic=True)
        skeleton = self.walk_wire(message.DESCRIPTOR, memoryview(data), 0, len(data), at, into)
        values += [(message.DESCRIPTOR.fields_by_number[number], value) for number, value in here.items()]
        for field, value in values:  # a big value straight from the object: never serialized with its message
            self.place_bytes(field, value.encode("utf-8") if isinstance(value, str) else value, at, skeleton)
        for field, entries in maps:
            self.place_map_objects(
                type(message), field, entries, at, skeleton, object_depth + 1, extra=below.get(field.number)
            )
        for field, value in object_fields:
            place = at.to((Field(field.number),))
            if not descriptors.is_repeated(field):
                self.place_object(field, value, place, skeleton, object_depth + 1, extra=below.get(field.number))
            elif len(value) <= _FEW_ELEMENTS:
                for index, element in enumerate(value):
                    self.place_object(field, element, place.to((Index(index),)), skeleton, object_depth + 1)
            else:
                self.place_many(field, value, place, skeleton, object_depth, whole=whole)
        return skeleton

    def place_bytes(self, field: FieldDescriptor, data, at: _At, parent: _Skeleton) -> None:
        """A singular bytes/string value of the message at `at`: inline when small, else a chunk of its own."""
        if len(data) < self.threshold:
            parent.add(wire.length_delimited(field.number, len(data)) + bytes(data))
            return
        self.emit_bytes(data, at.to((Field(field.number),)))
        if field.is_required:
            parent.add(wire.length_delimited(field.number, 0))
        parent.changed = True

    def place_many(
        self, field: FieldDescriptor, elements, at: _At, parent: _Skeleton, object_depth: int, *, whole=None
    ) -> None:
        """A long repeated message field: its small, shallow elements go into the parent in runs (a run is the
        serialized occurrences of consecutive elements), the others are walked one by one.

        With `whole` (the serialization of the message holding the field) the runs are cut out of it; else each
        element is serialized once, and runs are framed from those serializations at C speed."""
        budget = max(1, min(_RUN_BYTES, self.limit // 4))
        room = self.element_room(field, at.depth)
        if whole is not None:
            key = wire.encode_tag(field.number, wire.START_GROUP if field.type == _T.TYPE_GROUP else wire.LEN)
            for start, end, index in element_runs.cut(
                whole, 0, len(whole), wire.decode_varint(key, 0, len(key))[0], budget, self.threshold, room
            ):
                if index < 0:
                    parent.add(whole[start:end])
                    continue
                occ = next(wire.scan(whole, start, end))
                self.place_message(
                    field, whole, occ.payload_start, occ.payload_end, at.to((Index(index),)), parent, occ=occ
                )
            return
        self.place_elements(field, elements, 0, at, parent, object_depth, budget)

    def place_elements(
        self, field: FieldDescriptor, elements, first: int, at: _At, parent: _Skeleton, object_depth: int, budget: int
    ) -> None:
        """Places a sequence of message elements, the first being element `first` of the list at `at`: small,
        shallow ones in runs of about `budget` bytes, the others walked."""
        start_tag, end_tag = _element_tags(field)
        room = self.element_room(field, at.depth)
        serialized = element_runs.FrameSource(_serialize_each(field, iter(elements)))
        index = 0
        while True:
            run, count, stop = element_runs.frame(serialized, start_tag, end_tag, budget, self.threshold, room)
            if run:
                parent.add(run)
            index += count
            if stop is None:
                if count == 0:
                    return
                continue
            place = at.to((Index(first + index),))
            if isinstance(stop, EncodeError):  # past what upb serializes at once: walked as an object
                self.place_object(field, elements[index], place, parent, object_depth + 1)
            elif isinstance(stop, BaseException):
                raise stop
            else:
                self.place_message(field, memoryview(stop), 0, len(stop), place, parent)
            index += 1

    def element_room(self, field: FieldDescriptor, depth: int) -> int:
        """How many message levels an element of `field` held inline at `depth` may have below it (see
        stays_inline); unlimited when its type cannot nest that deep."""
        room = MAX_CHUNK_DEPTH - depth - 1
        bound = static_depth(field.message_type)
        return element_runs.UNLIMITED if bound is not None and bound - 1 < room else room

    def stays_inline(self, size: int, depth: int, buf=None, start: int = 0) -> bool:
        """Whether a sub-message of `size` bytes below a message at `depth` is copied inline: small, and too
        shallow to nest past MAX_CHUNK_DEPTH. Each nesting level costs at least two bytes, so small sizes are
        shallow; a larger one (given as buf[start:start + size]) is measured."""
        room = MAX_CHUNK_DEPTH - depth - 1
        if size >= self.threshold:
            return False
        if size // 2 < room:
            return True
        return buf is not None and element_runs.sublevels(buf, start, start + size, room) < room

    def place_object(
        self,
        field: FieldDescriptor,
        value: Message,
        at: _At,
        parent: _Skeleton,
        object_depth: int,
        *,
        extra: dict | None = None,
    ) -> None:
        """Places a sub-message held as a Python object at `at` (the depth there is its parent's); `extra`: bytes
        values supplied beside it (see walk_object)."""
        if object_depth >= _OBJECT_DEPTH and not extra:
            data = value.SerializePartialToString(deterministic=True)
            self.place_message(field, memoryview(data), 0, len(data), at, parent)
            return
        inner = self.walk_object(value, at.to((), levels=1), object_depth, extra=extra)
        self.settle_message(field, inner, at, parent)

    def walk_wire(
        self, descriptor: Descriptor, buf, start: int, end: int, at: _At, into: _Skeleton | None = None
    ) -> _Skeleton:
        """Walks the serialized message buf[start:end] of type `descriptor` found at `at`, into a new skeleton or
        `into`."""
        occurrences = list(wire.scan(buf, start, end))
        skeleton = _Skeleton() if into is None else into
        unaddressable = self.fragment_bound_fields(descriptor, occurrences, at.depth)
        fragments: list = []
        counts: dict[int, int] = {}
        for occ in occurrences:
            field = descriptors.find_field(descriptor, occ.field_number)
            index = counts.get(occ.field_number, 0)
            counts[occ.field_number] = index + 1
            if occ.field_number in unaddressable:
                fragments.extend(self.fragment_pieces(field, buf, occ, at, index))
                skeleton.changed = True
            elif (
                field is None
                or occ.wire_type not in (wire.LEN, wire.START_GROUP)
                or (occ.payload_size < self.threshold and not self.may_be_too_deep(field, occ, at.depth))
            ):
                skeleton.add(bytes(buf[occ.start : occ.end]))
            else:
                place = at.to((Field(field.number),))
                if descriptors.is_map(field):
                    self.place_map_entry(field, buf, occ, place, skeleton, fragments)
                elif descriptors.is_repeated(field):
                    self.place_value(field, buf, occ, place.to((Index(index),)), skeleton)
                elif field.type == _T.TYPE_GROUP:
                    self.place_group(field, buf, occ, place, skeleton, fragments)
                else:
                    self.place_value(field, buf, occ, place, skeleton)
        if fragments:
            self.emit_fragments(fragments, at)
        return skeleton

    def may_be_too_deep(self, field: FieldDescriptor, occ: wire.Occurrence, depth: int) -> bool:
        """Whether an inline copy of this occurrence could nest messages past MAX_CHUNK_DEPTH in a chunk.

        A non-recursive type has a fixed maximum depth; otherwise each nesting level costs at least two
        bytes, so small payloads are provably shallow."""
        if field.type not in _MESSAGE_TYPES:
            return False
        bound = static_depth(field.message_type)
        levels = min(bound if bound is not None else occ.payload_size, occ.payload_size // 2)
        return depth + 1 + levels >= MAX_CHUNK_DEPTH

    def fragment_bound_fields(self, descriptor: Descriptor, occurrences: list, depth: int) -> set[int]:
        """Field numbers whose occurrences all move to fragments: big (or possibly too deep) occurrences of
        fields that TensorFlow's Merger cannot address by path."""
        bound = set()
        for occ in occurrences:
            if occ.field_number in bound:
                continue
            field = descriptors.find_field(descriptor, occ.field_number)
            if not _addressable(field) and (
                occ.payload_size >= self.threshold or (field is not None and self.may_be_too_deep(field, occ, depth))
            ):
                bound.add(occ.field_number)
        return bound

    def fragment_pieces(self, field: FieldDescriptor | None, buf, occ: wire.Occurrence, at: _At, index: int) -> list:
        """A fragment-bound occurrence as fragment pieces: itself, or parts of a packed repeated scalar larger
        than a chunk, or (cutting values) a placeholder for pieces attached by path."""
        if occ.end - occ.start <= self.limit:
            return [self.whole(field, buf, occ, at)]
        if field is not None and occ.wire_type == wire.LEN and _is_packed_scalar(field):
            payload = buf[occ.payload_start : occ.end]
            return [
                wire.length_delimited(occ.field_number, len(part)) + bytes(part)
                for part in _packed_parts(field, payload, self.limit - 16)
            ]
        if self.cut_values and field is not None and not field.is_extension:
            if _is_scalar_map(field):
                key, value_occ, _ = _read_map_entry(field.message_type, buf, occ)
                value = buf[value_occ.payload_start : value_occ.payload_end] if value_occ else b""
                self.emit_bytes(value, at.to((Field(field.number), Key(key))))
                return []
            if field.type in _BYTES_TYPES:
                self.emit_bytes(buf[occ.payload_start : occ.end], at.to((Field(field.number), Index(index))))
                return [wire.length_delimited(field.number, 0)]
        return [self.whole(field, buf, occ, at)]

    def whole(self, field: FieldDescriptor | None, buf, occ: wire.Occurrence, at: _At) -> bytes:
        """An occurrence kept whole in a fragment (a chunk of its own when larger than max_chunk_size): refused
        when protobuf could not parse that fragment (over 2 GiB, or nested past MAX_CHUNK_DEPTH)."""
        size = occ.end - occ.start
        name = f"field {occ.field_number}" if field is None else field.full_name
        if size > PROTOBUF_LIMIT - 16:
            raise SplitError(
                f"{name} in {at.describe()} has an occurrence of {size} bytes that cannot be cut (TensorFlow's "
                "Merger cannot address it by path) and does not fit protobuf's 2 GiB limit"
            )
        if field is not None and field.type in _MESSAGE_TYPES and self.may_be_too_deep(field, occ, 0):
            limit = MAX_CHUNK_DEPTH - 1
            if _nesting_depth(field.message_type, buf, occ.payload_start, occ.payload_end, limit) >= limit:
                raise SplitError(
                    f"{name} in {at.describe()} nests messages more than {limit} deep and cannot be cut "
                    "(TensorFlow's Merger cannot address it by path): protobuf could not parse its chunk"
                )
        return bytes(buf[occ.start : occ.end])

    # ---- placing big values ------------------------------------------------------------------------------

    def place_value(self, field: FieldDescriptor, buf, occ: wire.Occurrence, at: _At, parent: _Skeleton) -> None:
        """Handles a big bytes/string value or a big or deep sub-message at `at`."""
        if field.type in _BYTES_TYPES:
            self.emit_bytes(buf[occ.payload_start : occ.payload_end], at)
            if field.is_required:
                parent.add(wire.length_delimited(field.number, 0))
            parent.changed = True
            return
        self.place_message(field, buf, occ.payload_start, occ.payload_end, at, parent, occ=occ)

    def place_message(
        self, field: FieldDescriptor, buf, start: int, end: int, at: _At, parent: _Skeleton, occ=None
    ) -> None:
        """Walks a serialized sub-message and keeps it inline or moves it out, as its size and depth demand.

        A sub-message that would sit at MAX_CHUNK_DEPTH starts a chunk of its own (walked from depth 0)."""
        if self.stays_inline(end - start, at.depth, buf, start):
            parent.add(bytes(buf[occ.start : occ.end]) if occ else _wrap(field, [buf[start:end]], end - start))
            return
        own_chunk = at.depth + 1 >= MAX_CHUNK_DEPTH
        inside = _At(at.path, at.owner, 0 if own_chunk else at.depth + 1)
        inner = self.walk_wire(field.message_type, buf, start, end, inside)
        self.settle_message(field, inner, at, parent, own_chunk)

    def settle_message(
        self, field: FieldDescriptor, inner: _Skeleton, at: _At, parent: _Skeleton, own_chunk: bool = False
    ) -> None:
        """Puts a walked sub-message's skeleton inline in its parent, or into fragment chunks at its path (the
        parent keeps a placeholder: an element holding the list index, or the required fields' defaults)."""
        if not own_chunk and inner.size + 16 < self.threshold:
            parent.add(_wrap(field, inner.pieces, inner.size))
            parent.changed = parent.changed or inner.changed
            return
        parent.changed = True
        if descriptors.is_repeated(field) or field.is_required or _minimal_message(field.message_type):
            parent.add(_placeholder(field))
        self.emit_fragments(inner.pieces or [b""], at)

    def place_map_entry(
        self, field: FieldDescriptor, buf, occ: wire.Occurrence, at: _At, parent: _Skeleton, fragments: list
    ) -> None:
        """A big entry of a map with message values: its value goes to chunks addressed by the map key.

        When what was cut out of the value are independent leaves and the rest of the entry (key included)
        is small, the entry stays inline and the leaves get flat paths through the key (TensorFlow's layout
        for constants). Otherwise the value becomes a nested ChunkedMessage, because TensorFlow's Merger
        applies chunked fields under a map key in arbitrary order; the key then lives only in the metadata, so
        a key larger than max_chunk_size is no obstacle. An entry whose key TensorFlow's Merger would not keep
        exactly stays whole, in `fragments`."""
        entry = field.message_type
        value_type = entry.fields_by_number[2].message_type
        key, value_occ, other_pieces = _read_map_entry(entry, buf, occ)
        if not _addressable_key(entry.fields_by_number[1], key) or at.owner.nesting >= MAX_NESTING:
            fragments.append(self.whole(field, buf, occ, at))
            parent.changed = True
            return
        start = value_occ.payload_start if value_occ else occ.end
        end = value_occ.payload_end if value_occ else occ.end
        self.place_map_value(
            field, key, other_pieces, at, parent, lambda key_at: self.walk_wire(value_type, buf, start, end, key_at)
        )

    def place_map_objects(
        self,
        holder_class: type,
        field: FieldDescriptor,
        entries,
        at: _At,
        parent: _Skeleton,
        object_depth: int,
        *,
        extra: dict | None = None,
    ) -> None:
        """A map with message values held as objects (`at`: the message holding it): small entries serialized
        together, big ones placed by key like place_map_entry (whole when TensorFlow could not find the key).
        `extra`: bytes values supplied beside the values, by path from the map key (see walk_object)."""
        holder = holder_class()
        small = holder.Extensions[field] if field.is_extension else getattr(holder, field.name)
        place = at.to((Field(field.number),))
        key_field = field.message_type.fields_by_number[1]
        by_key = _split_keys(extra)
        value_class = message_factory.GetMessageClass(field.message_type.fields_by_number[2].message_type)
        for key in sorted(set(entries) | by_key.keys()):
            value = entries[key] if key in entries else value_class()
            if key in by_key:  # the supplied values make it big: placed by key, as the Writer checked it can be
                self.place_map_value(
                    field,
                    key,
                    [_encode_key(key_field, key)],
                    place,
                    parent,
                    lambda key_at, v=value, e=by_key[key]: self.walk_object(v, key_at, object_depth, extra=e),
                )
                continue
            size = _size_of(value, object_depth)
            if self.stays_inline(size + 16, at.depth + 1):
                small[key].CopyFrom(value)
                continue
            key_piece = _encode_key(key_field, key)
            if not _addressable_key(key_field, key) or at.owner.nesting >= MAX_NESTING:
                value_piece = wire.length_delimited(2, size) + value.SerializePartialToString(deterministic=True)
                entry = _wrap(field, [key_piece, value_piece], len(key_piece) + len(value_piece))
                self.emit_fragments([self.whole(field, memoryview(entry), _occurrence(field, entry), place)], at)
                parent.changed = True
                continue
            self.place_map_value(
                field,
                key,
                [key_piece],
                place,
                parent,
                lambda key_at, v=value: self.walk_object(v, key_at, object_depth),
            )
        data = memoryview(holder.SerializePartialToString(deterministic=True))
        budget = max(1, min(_RUN_BYTES, self.limit // 4))
        for run in _pack([data[occ.start : occ.end] for occ in wire.scan(data)], budget):
            parent.add(b"".join(run))

    def place_map_value(
        self, field: FieldDescriptor, key, other_pieces: list, at: _At, parent: _Skeleton, walk_value
    ) -> None:
        """Places a big map value at `at` + its key, walked by `walk_value(place)` (see place_map_entry)."""
        value_field = field.message_type.fields_by_number[2]
        key_at = at.to((Key(key),), levels=2)
        owner = at.owner
        mark, fragments_before = len(owner.items), owner.fragment_chunks
        inner = walk_value(key_at)
        added = owner.items[mark:]
        independent = owner.fragment_chunks == fragments_before and len({p for p, _ in added}) == len(added)
        others_size = sum(len(piece) for piece in other_pieces)
        parent.changed = True
        if independent and others_size + inner.size + 32 < self.threshold and key_at.depth < MAX_CHUNK_DEPTH:
            value_piece = _wrap(value_field, inner.pieces, inner.size)
            parent.add(_wrap(field, [*other_pieces, value_piece], others_size + len(value_piece)))
            return
        del owner.items[mark:]
        nested = owner.nested(value_field.message_type, key_at.path)
        nested.items = [(item_path[len(key_at.path) :], sub) for item_path, sub in added]
        self.nest(nested, inner, key_at)

    def place_group(
        self, field: FieldDescriptor, buf, occ: wire.Occurrence, at: _At, parent: _Skeleton, fragments: list
    ) -> None:
        """A big singular group: a nested ChunkedMessage at its path, since TensorFlow's Merger cannot walk a
        path through a singular group (it does not step into it); whole when nesting would go too deep."""
        if at.owner.nesting >= MAX_NESTING:
            fragments.append(self.whole(field, buf, occ, at))
            parent.changed = True
            return
        nested = at.owner.nested(field.message_type, at.path)
        inner = self.walk_wire(field.message_type, buf, occ.payload_start, occ.payload_end, _At(FieldPath(), nested, 0))
        parent.changed = True
        if field.is_required:
            parent.add(_placeholder(field))
        self.nest(nested, inner, at)

    def nest(self, nested: _Owner, inner: _Skeleton, at: _At) -> None:
        """Emits a nested owner's chunks and attaches its ChunkedMessage at `at`."""
        owner, stream = self.open_owner(nested)
        for piece in inner.pieces:
            stream.add(piece)
        at.owner.attach(at.path, self.close_owner(owner, stream))

    # ---- emitting chunks -----------------------------------------------------------------------------------

    def emit_bytes(self, data, at: _At) -> None:
        """A big bytes/string value: one BYTES chunk, or (cutting values) pieces joined by concatenation."""
        if self.cut_values and len(data) > self.limit:
            self.pieces_used = True
            for begin in range(0, len(data), self.limit):
                index = self.sink.add(data[begin : begin + self.limit], BYTES)
                at.owner.attach(at.path, chunk_pb2.ChunkedMessage(chunk_index=index))
            return
        if len(data) > PROTOBUF_LIMIT:
            raise SplitError(
                f"{at.describe()} holds a value of {len(data)} bytes, over protobuf's 2 GiB limit, which "
                "TensorFlow cannot hold; write with cut_values=True to cut it into pieces that only "
                "proto-splitter reads"
            )
        index = self.sink.add(data, BYTES)
        at.owner.attach(at.path, chunk_pb2.ChunkedMessage(chunk_index=index))

    def emit_fragments(self, pieces: list, at: _At) -> None:
        """Packs serialized field occurrences into MESSAGE chunks merged into the message at `at`."""
        for group in _pack(pieces, self.limit):
            index = self.sink.add(_joined(group), MESSAGE)
            at.owner.attach(at.path, chunk_pb2.ChunkedMessage(chunk_index=index))
            at.owner.fragment_chunks += 1


# ---- what TensorFlow's Merger can address ---------------------------------------------------------------


def _addressable(field: FieldDescriptor | None) -> bool:
    """Whether chunks may be attached at this field's path: a known, non-extension field holding a message or
    a singular bytes/string (TensorFlow's Merger finds fields by number, steps only into messages, and sets
    only singular values)."""
    if field is None or field.is_extension:
        return False
    if field.type in _MESSAGE_TYPES:
        return not _is_scalar_map(field)
    return field.type in _BYTES_TYPES and not descriptors.is_repeated(field)


def _addressable_key(key_field: FieldDescriptor, key) -> bool:
    """TensorFlow's Merger converts integer map keys to a C int: a 64-bit key outside that range would name
    another entry."""
    return key_field.type not in _WIDE_KEYS or key in _INT32_KEYS


def _is_packed_scalar(field: FieldDescriptor) -> bool:
    return descriptors.is_repeated(field) and field.type not in _MESSAGE_TYPES + _BYTES_TYPES


@functools.cache
def static_depth(descriptor: Descriptor) -> int | None:
    """How deep messages of this type can nest (1 for a message without message fields); None if recursive."""
    return _static_depth(descriptor, frozenset())


def _static_depth(descriptor: Descriptor, visiting: frozenset) -> int | None:
    if descriptor in visiting:
        return None
    deepest = 0
    for field in descriptor.fields:
        if field.message_type is not None:
            below = _static_depth(field.message_type, visiting | {descriptor})
            if below is None:
                return None
            deepest = max(deepest, below)
    return deepest + 1


def _nesting_depth(descriptor: Descriptor, buf, start: int, end: int, stop: int) -> int:
    """How deep the serialized message buf[start:end] nests messages (1 without sub-messages), counting no
    further than `stop`."""
    if stop <= 1:
        return 1
    deepest = 0
    for occ in wire.scan(buf, start, end):
        field = descriptors.find_field(descriptor, occ.field_number)
        if field is not None and field.type in _MESSAGE_TYPES and occ.wire_type in (wire.LEN, wire.START_GROUP):
            entry = field.message_type
            deepest = max(deepest, _nesting_depth(entry, buf, occ.payload_start, occ.payload_end, stop - 1))
            if deepest + 1 >= stop:
                break
    return deepest + 1


# ---- required fields -----------------------------------------------------------------------------------


@functools.cache
def _minimal_message(descriptor: Descriptor) -> bytes:
    """The serialization of the smallest initialized message of this type: its required fields (recursively)
    at their defaults. Empty for a type without required fields."""
    message = message_factory.GetMessageClass(descriptor)()
    _fill_required(message, levels=0)
    return message.SerializePartialToString()


def _fill_required(message: Message, levels: int) -> None:
    if levels > MAX_CHUNK_DEPTH:
        raise SplitError(f"the required fields of {message.DESCRIPTOR.full_name} form a cycle")
    for field in message.DESCRIPTOR.fields:
        if not field.is_required:
            continue
        if field.message_type is not None:
            sub = getattr(message, field.name)
            sub.SetInParent()
            _fill_required(sub, levels + 1)
        else:
            setattr(message, field.name, field.default_value)


@functools.cache
def _required_placeholder(descriptor: Descriptor, number: int) -> bytes:
    """A serialized occurrence of required field `number` of `descriptor` holding its minimal value."""
    field = descriptor.fields_by_number[number]
    if field.message_type is not None:
        return _placeholder(field)
    message = message_factory.GetMessageClass(descriptor)()
    setattr(message, field.name, field.default_value)
    return message.SerializePartialToString()


def _placeholder(field: FieldDescriptor) -> bytes:
    """An occurrence of a message field holding the smallest initialized message: keeps a list index in place,
    or a required field set, until a chunk merges the real value into it."""
    minimal = _minimal_message(field.message_type)
    return _wrap(field, [minimal], len(minimal))


def _missing_required(descriptor: Descriptor, pieces: list) -> list[bytes]:
    """Placeholders for the required fields of `descriptor` that none of `pieces` (each one or more whole
    occurrences of one field) holds."""
    required = [field.number for field in descriptor.fields if field.is_required]
    if not required:
        return []
    present = {wire.decode_varint(piece, 0, len(piece))[0] >> 3 for piece in pieces if piece}
    return [_required_placeholder(descriptor, number) for number in required if number not in present]


@functools.cache
def has_required_fields(descriptor: Descriptor) -> bool:
    """Whether messages of this type can hold required fields (here or in any message type they contain)."""
    seen, pending = {descriptor}, [descriptor]
    while pending:
        for field in pending.pop().fields:
            if field.is_required:
                return True
            if field.message_type is not None and field.message_type not in seen:
                seen.add(field.message_type)
                pending.append(field.message_type)
    return False


# ---- serialization helpers ------------------------------------------------------------------------------


def _wrap(field: FieldDescriptor, pieces: Iterable, size: int) -> bytes:
    """Serializes an occurrence of a message field from its payload pieces (groups get start/end tags)."""
    if field.type == _T.TYPE_GROUP:
        return b"".join(
            [wire.encode_tag(field.number, wire.START_GROUP), *pieces, wire.encode_tag(field.number, wire.END_GROUP)]
        )
    return b"".join([wire.length_delimited(field.number, size), *pieces])


def _element_tags(field: FieldDescriptor) -> tuple[bytes, bytes]:
    """What goes before and after the payload of an element of a repeated message field (a length goes between
    the start tag and a length-delimited payload; a group ends with its end tag)."""
    if field.type == _T.TYPE_GROUP:
        return wire.encode_tag(field.number, wire.START_GROUP), wire.encode_tag(field.number, wire.END_GROUP)
    return wire.encode_tag(field.number, wire.LEN), b""


def _positional_deterministic() -> bool:
    """Whether SerializePartialToString takes `deterministic` positionally (upb does): a keyword argument costs
    more than the serialization of a small message."""
    try:
        chunk_pb2.ChunkInfo().SerializePartialToString(True)  # type: ignore[call-arg]
    except TypeError:
        return False
    return True


_POSITIONAL_DETERMINISTIC = _positional_deterministic()


def _serialize_each(field: FieldDescriptor, elements: Iterator[Message]) -> Iterator[bytes]:
    """The deterministic serializations of message elements of `field`, lazily, each in one C call."""
    serialize = message_factory.GetMessageClass(field.message_type).SerializePartialToString
    if _POSITIONAL_DETERMINISTIC:
        return map(serialize, elements, itertools.repeat(True))
    return map(operator.methodcaller("SerializePartialToString", deterministic=True), elements)


def _split_extra(extra: dict | None) -> tuple[dict[int, object], dict[int, dict]]:
    """Bytes values supplied beside a message, by path: those of its own fields (by number) and those below its
    fields (by number, then path below the field)."""
    here: dict[int, object] = {}
    below: dict[int, dict] = {}
    for path, data in (extra or {}).items():
        if len(path) == 1:
            here[path[0].number] = data
        else:
            below.setdefault(path[0].number, {})[path[1:]] = data
    return here, below


def _split_keys(extra: dict | None) -> dict:
    """Bytes values supplied below a map's values, by map key, then path below the value."""
    by_key: dict = {}
    for path, data in (extra or {}).items():
        by_key.setdefault(path[0].value, {})[path[1:]] = data
    return by_key


def _is_scalar_map(field: FieldDescriptor | None) -> bool:
    """True for map fields whose values are not messages."""
    return (
        field is not None
        and descriptors.is_map(field)
        and (field.message_type.fields_by_number[2].type not in _MESSAGE_TYPES)
    )


def _joined(pieces: list) -> bytes | memoryview:
    """The pieces of a chunk as one buffer: a view spanning them when they lie back to back in one `bytes` (runs
    cut from one serialization: no copy of the chunk), else their concatenation."""
    first = pieces[0] if pieces else None
    if isinstance(first, memoryview) and isinstance(first.obj, bytes):
        owner = first.obj
        base = _address(memoryview(owner))
        begin = end = _address(first) - base
        for piece in pieces:
            if not isinstance(piece, memoryview) or piece.obj is not owner or _address(piece) - base != end:
                return b"".join(pieces)
            end += piece.nbytes
        return memoryview(owner)[begin:end]
    return b"".join(pieces)


def _address(view: memoryview) -> int:
    """Where a view's first byte lies in memory."""
    return int(np.frombuffer(view, dtype=np.uint8).ctypes.data) if view.nbytes else -1


def _pack(pieces: list, limit: int) -> Iterable[list]:
    """Groups consecutive pieces into runs whose total size stays within limit (a larger piece alone)."""
    group, size = [], 0
    for piece in pieces:
        if group and size + len(piece) > limit:
            yield group
            group, size = [], 0
        group.append(piece)
        size += len(piece)
    if group:
        yield group


def _packed_parts(field: FieldDescriptor, payload, budget: int) -> Iterable:
    """Cuts a packed repeated scalar payload at element boundaries into parts of at most budget bytes."""
    width = _FIXED_WIDTH.get(field.type)
    if width:
        step = budget - budget % width
        return (payload[i : i + step] for i in range(0, len(payload), step))
    ends = np.flatnonzero(np.frombuffer(payload, dtype=np.uint8) < 0x80) + 1
    cuts, last = [0], 0
    for position in np.searchsorted(ends, np.arange(budget, len(payload) + budget, budget), side="right"):
        boundary = int(ends[position - 1]) if position else last
        if boundary > last:
            cuts.append(boundary)
            last = boundary
    if cuts[-1] != len(payload):
        cuts.append(len(payload))
    return (payload[a:b] for a, b in itertools.pairwise(cuts))


def _read_map_entry(entry: Descriptor, buf, occ: wire.Occurrence):
    """Decodes a map entry: (key, value occurrence, serialized occurrences other than the value).

    The last key and value win, as in parsing."""
    key_field = entry.fields_by_number[1]
    key, value_occ, others = _default_key(key_field), None, []
    for inner in wire.scan(buf, occ.payload_start, occ.payload_end):
        if inner.field_number == 2:
            value_occ = inner
            continue
        if inner.field_number == 1:
            key = _decode_key(key_field, buf, inner)
        others.append(bytes(buf[inner.start : inner.end]))
    return key, value_occ, others


def _default_key(key_field: FieldDescriptor):
    return {_T.TYPE_STRING: "", _T.TYPE_BOOL: False}.get(key_field.type, 0)


def _decode_key(key_field: FieldDescriptor, buf, occ: wire.Occurrence):
    kind = key_field.type
    if kind == _T.TYPE_STRING:
        return bytes(buf[occ.payload_start : occ.payload_end]).decode("utf-8")
    if kind in (_T.TYPE_FIXED32, _T.TYPE_SFIXED32, _T.TYPE_FIXED64, _T.TYPE_SFIXED64):
        raw = int.from_bytes(buf[occ.payload_start : occ.end], "little")
        signed = kind in (_T.TYPE_SFIXED32, _T.TYPE_SFIXED64)
        return wire.to_signed(raw, 8 * (occ.end - occ.payload_start)) if signed else raw
    value, _ = wire.decode_varint(buf, occ.payload_start, occ.end)
    if kind == _T.TYPE_BOOL:
        return value != 0
    if kind in (_T.TYPE_SINT32, _T.TYPE_SINT64):
        return wire.zigzag_decode(value)
    if kind == _T.TYPE_INT32:
        return wire.to_signed(value & 0xFFFFFFFF, 32)
    if kind == _T.TYPE_INT64:
        return wire.to_signed(value, 64)
    if kind == _T.TYPE_UINT32:
        return value & 0xFFFFFFFF
    return value


def object_size(message: Message, object_depth: int = 0, stop: int | None = None) -> int:
    """The serialized size of `message`, computed field by field so that no multi-GiB buffer is built (upb's
    ByteSize() serializes, and refuses a message past 2 GiB). With `stop`, it may stop counting once the size is
    past `stop` (and return a size past it)."""
    if object_depth >= _OBJECT_DEPTH or len(unknown_fields.UnknownFieldSet(message)):
        return message.ByteSize()
    rest = type(message)()
    total = 0
    for field, value in message.ListFields():
        tag = len(wire.encode_tag(field.number, wire.LEN))
        if field.type in _MESSAGE_TYPES and not descriptors.is_map(field):
            elements = value if descriptors.is_repeated(field) else [value]
            if len(elements) <= _FEW_ELEMENTS:
                sizes = np.array([object_size(element, object_depth + 1) for element in elements], dtype=np.int64)
            else:
                sizes = _list_sizes(field, elements, None if stop is None else stop - total)
            total += int(sizes.sum()) + len(sizes) * (2 * tag if field.type == _T.TYPE_GROUP else tag)
            if field.type != _T.TYPE_GROUP:
                total += _varint_lengths(sizes)
        elif _object_kind(field, value, 0) == "map":
            key_field = field.message_type.fields_by_number[1]
            map_sizes = []
            for key, entry_value in value.items():
                value_size = object_size(entry_value, object_depth + 1)
                map_sizes.append(
                    len(_encode_key(key_field, key)) + 1 + len(wire.encode_varint(value_size)) + value_size
                )
            total += sum(map_sizes) + len(map_sizes) * tag + _varint_lengths(map_sizes)
        elif _object_kind(field, value, 0) == "value":
            size = len(value.encode("utf-8") if isinstance(value, str) else value)
            total += tag + len(wire.encode_varint(size)) + size
        else:
            descriptors.copy_field(rest, field, value)
        if stop is not None and total > stop:
            return total
    # upb's ByteSize() refuses a message missing required fields, as `rest` is when one was a message field
    rest_size = len(rest.SerializePartialToString()) if _minimal_message(message.DESCRIPTOR) else rest.ByteSize()
    return total + rest_size


def _list_sizes(field: FieldDescriptor, elements, stop: int | None) -> npt.NDArray[np.int64]:
    """The sizes of the elements of a long repeated message field, a batch at a time at C speed (an element upb
    cannot size is sized field by field); with `stop`, only up to the batch whose sizes pass it."""
    size_of = message_factory.GetMessageClass(field.message_type).ByteSize
    batches, total, begin = [], 0, 0
    while begin < len(elements) and (stop is None or total <= stop):
        end = min(begin + _SIZE_BATCH, len(elements))
        try:
            batch = np.fromiter(map(size_of, map(elements.__getitem__, range(begin, end))), np.int64, end - begin)
        except EncodeError:
            batch = np.array([_size_of(elements[index]) for index in range(begin, end)], dtype=np.int64)
        batches.append(batch)
        total += int(batch.sum())
        begin = end
    return np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)


def _size_of(message: Message, object_depth: int = _OBJECT_DEPTH - 1) -> int:
    """message.ByteSize(), or for a message upb cannot size (past 2 GiB) its size computed field by field."""
    try:
        return message.ByteSize()
    except EncodeError:
        return object_size(message, object_depth)


def _object_kind(field: FieldDescriptor, value, threshold: int) -> str | None:
    """How a field of a message held as an object is walked: "message" (object by object), "map" (a map with
    message values, entry by entry), "value" (a singular bytes/string of at least `threshold`, cut straight
    from the object), or None (serialized with the rest of the message and walked as wire)."""
    if field.is_extension:
        return None
    if field.type == _T.TYPE_MESSAGE and not descriptors.is_map(field):
        return "message"
    if descriptors.is_map(field) and field.message_type.fields_by_number[2].type == _T.TYPE_MESSAGE:
        return "map"
    if field.type in _BYTES_TYPES and not descriptors.is_repeated(field) and len(value) >= threshold:
        return "value"
    return None


def _encode_key(key_field: FieldDescriptor, key) -> bytes:
    """The serialized key occurrence (field 1) of a map entry, as upb writes it (also for a default key)."""
    kind = key_field.type
    if kind == _T.TYPE_STRING:
        data = key.encode("utf-8")
        return wire.length_delimited(1, len(data)) + data
    if kind in (_T.TYPE_FIXED32, _T.TYPE_SFIXED32, _T.TYPE_FIXED64, _T.TYPE_SFIXED64):
        width = 4 if kind in (_T.TYPE_FIXED32, _T.TYPE_SFIXED32) else 8
        signed = kind in (_T.TYPE_SFIXED32, _T.TYPE_SFIXED64)
        tag = wire.encode_tag(1, wire.FIXED32 if width == 4 else wire.FIXED64)
        return tag + key.to_bytes(width, "little", signed=signed)
    if kind == _T.TYPE_SINT32:
        value = (key << 1) ^ (key >> 31)
    elif kind == _T.TYPE_SINT64:
        value = (key << 1) ^ (key >> 63)
    else:
        value = int(key)  # bool, int32/64 (negative: ten bytes), uint32/64
    return wire.encode_tag(1, wire.VARINT) + wire.encode_varint(value)


def _occurrence(field: FieldDescriptor, data: bytes) -> wire.Occurrence:
    """The one occurrence that `data` serializes."""
    return next(wire.scan(memoryview(data), 0, len(data)))


def _varint_lengths(values) -> int:
    """The total length of the varint encodings of non-negative `values` (one byte, plus one per 7 bits)."""
    array = np.asarray(values, dtype=np.uint64)
    return len(values) + sum(int(np.count_nonzero(array >= np.uint64(1 << shift))) for shift in range(7, 64, 7))
