"""The generic, descriptor-driven splitter: cuts any message into chunks no larger than max_chunk_size.

How a message is cut (every layout below is one TensorFlow's C++ Merger reads, except where noted):
- A `bytes`/`string` value of at least `value_threshold` bytes becomes a BYTES chunk at its field path
  (`[field]`, `[field, index i]` with an empty placeholder element left behind). A value larger than
  max_chunk_size is cut into pieces merged back by concatenation (our extension: TensorFlow's Merger sets
  rather than appends, so it cannot read such files; with the default limit this only happens past 2 GiB).
- A sub-message of at least `value_threshold` bytes is walked recursively; its remaining skeleton stays inline
  when small, otherwise it is moved to fragment chunks merged into the message at its path. Under a map key
  the sub-message becomes a nested ChunkedMessage instead, because TensorFlow's Merger orders chunked fields
  under map keys arbitrarily.
- Packed repeated scalars, unknown fields and scalar-valued map entries that are too big become fragments
  (serialized pieces of the parent merged by MergeFromString); all occurrences of such a field move together,
  so repeated fields keep their order.
- A skeleton still larger than max_chunk_size is sliced at field boundaries; the tail goes to fragments.
- No chunk holds messages nested deeper than MAX_CHUNK_DEPTH, so every chunk parses within protobuf's
  recursion limit even for messages nested hundreds deep.

The top levels of the message are walked as Python objects (serializing list elements one by one), the
rest at the wire level: upb's ByteSize()/SerializeToString() of a multi-GiB message is slow and doubles
memory, while per-element serialization costs one pass and bounded memory. Chunks stream into a ChunkSink.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import numpy as np
from google.protobuf import unknown_fields
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from . import paths, wire
from .chunks import BYTES, MESSAGE, ChunkSink
from .errors import SplitError
from .paths import FIELD, INDEX, KEY, Path
from .proto import chunk_pb2

PROTOBUF_LIMIT = (1 << 31) - 1
DEFAULT_MAX_CHUNK_SIZE = PROTOBUF_LIMIT - (1 << 16)
VALUE_THRESHOLD = 1 << 20
MAX_CHUNK_DEPTH = 80
MAX_NESTING = 24
_OBJECT_DEPTH = 6
_FEW_ELEMENTS = 8
_RUN_BYTES = 1 << 20  # small elements of a long repeated field are serialized together, this much at a time

_T = FieldDescriptor
_MESSAGE_TYPES = (_T.TYPE_MESSAGE, _T.TYPE_GROUP)
_BYTES_TYPES = (_T.TYPE_BYTES, _T.TYPE_STRING)
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
    """A ChunkedMessage under construction: the chunked fields attached to one message, by relative path."""

    descriptor: Descriptor
    nesting: int
    items: list = dataclass_field(default_factory=list)
    fragment_chunks: int = 0

    def attach(self, path: Path, chunked_message: chunk_pb2.ChunkedMessage) -> None:
        self.items.append((path, chunked_message))

    def chunked_message(self, chunk_index: int | None) -> chunk_pb2.ChunkedMessage:
        """The finished ChunkedMessage, its fields in the order TensorFlow's Merger applies them."""
        result = chunk_pb2.ChunkedMessage()
        if chunk_index is not None:
            result.chunk_index = chunk_index
        for path, sub in sorted(self.items, key=lambda item: merge_order_key(item[0], item[1])):
            result.chunked_fields.add(field_tag=paths.to_field_tags(path, self.descriptor), message=sub)
        return result


def merge_order_key(path: Path, chunked_message: chunk_pb2.ChunkedMessage) -> tuple:
    """Sort key giving TensorFlow's merge order: by field numbers/indices/keys step by step, shorter paths
    first, then by chunk index. (TensorFlow leaves map keys unordered; we order them to be deterministic.)"""
    steps = tuple((0, value) if kind != KEY else (1, type(value).__name__, value) for kind, value in path)
    return steps, chunked_message.chunk_index


@dataclass
class _Skeleton:
    """What remains of a message once its big parts are cut out: pieces, one per kept field occurrence."""

    pieces: list = dataclass_field(default_factory=list)
    size: int = 0
    changed: bool = False

    def add(self, piece) -> None:
        self.pieces.append(piece)
        self.size += len(piece)


class GenericSplitter:
    """Splits one message into chunks of at most max_chunk_size bytes, streaming them into a ChunkSink."""

    def __init__(self, max_chunk_size: int = DEFAULT_MAX_CHUNK_SIZE, value_threshold: int | None = None):
        if max_chunk_size < 64:
            raise SplitError(f"max_chunk_size must be at least 64 bytes, got {max_chunk_size}")
        self.max_chunk_size = max_chunk_size
        self.value_threshold = min(max_chunk_size - 32, value_threshold or VALUE_THRESHOLD)
        self._sink: ChunkSink | None = None

    def split(self, message: Message, sink: ChunkSink) -> chunk_pb2.ChunkedMessage:
        """Cuts `message` into chunks added to `sink`; returns the root ChunkedMessage (root chunk index 0)."""
        return self._split_root(
            message.DESCRIPTOR, sink, lambda owner: self._walk_object(message, (), owner, depth=0, object_depth=0)
        )

    def split_serialized(self, descriptor: Descriptor, data, sink: ChunkSink) -> chunk_pb2.ChunkedMessage:
        """Like split(), for a message given by its serialization: works on messages nested too deep for
        protobuf's parser, since every chunk is cut at most MAX_CHUNK_DEPTH deep."""
        return self._split_root(
            descriptor,
            sink,
            lambda owner: self._walk_wire(descriptor, memoryview(data).cast("B"), 0, len(data), (), owner, 0),
        )

    def _split_root(self, descriptor: Descriptor, sink: ChunkSink, walk) -> chunk_pb2.ChunkedMessage:
        self._sink = sink
        root_index = sink.reserve()
        owner = _Owner(descriptor, nesting=0)
        skeleton = walk(owner)
        self._emit_owner_chunk(owner, skeleton, root_index)
        return owner.chunked_message(root_index)

    # ---- walking -------------------------------------------------------------------------------------

    def _walk_object(self, message: Message, path: Path, owner: _Owner, depth: int, object_depth: int) -> _Skeleton:
        """Walks a message held as a Python object: big message fields object by object, the rest as wire."""
        if object_depth >= _OBJECT_DEPTH or len(unknown_fields.UnknownFieldSet(message)):
            data = message.SerializeToString(deterministic=True)
            return self._walk_wire(message.DESCRIPTOR, memoryview(data), 0, len(data), path, owner, depth)
        rest = type(message)()
        object_fields = []
        for field, value in message.ListFields():
            if field.type in _MESSAGE_TYPES and not paths.is_map(field):
                object_fields.append((field, value))
            else:
                paths.copy_field(rest, field, value)
        data = rest.SerializeToString(deterministic=True)
        skeleton = self._walk_wire(message.DESCRIPTOR, memoryview(data), 0, len(data), path, owner, depth)
        for field, value in object_fields:
            step = ((FIELD, field.number),)
            if not paths.is_repeated(field):
                self._place_object(field, value, path + step, skeleton, owner, depth, object_depth + 1)
            elif len(value) <= _FEW_ELEMENTS:
                for index, element in enumerate(value):
                    self._place_object(
                        field, element, path + step + ((INDEX, index),), skeleton, owner, depth, object_depth + 1
                    )
            else:
                self._place_many(type(message), field, value, path + step, skeleton, owner, depth)
        return skeleton

    def _place_many(
        self,
        holder_class: type,
        field: FieldDescriptor,
        elements,
        path: Path,
        parent: _Skeleton,
        owner: _Owner,
        depth: int,
    ) -> None:
        """A long repeated message field: each run of elements small enough to stay inline is serialized in one
        call (through a `holder_class` message holding just that run), the others are placed one by one."""
        budget = max(1, min(_RUN_BYTES, self.max_chunk_size // 4))
        run_start, run_bytes = 0, 0
        for index, element in enumerate(elements):
            size = element.ByteSize()
            inline = self._stays_inline(size, depth)
            if inline and run_bytes + size + 16 <= budget:
                run_bytes += size + 16  # 16: more than the tag and length (or group tags) of an element
                continue
            parent.add(_serialize_run(holder_class, field, elements[run_start:index]))
            if inline:
                run_start, run_bytes = index, size + 16
            else:
                self._place_object(field, element, (*path, (INDEX, index)), parent, owner, depth, _OBJECT_DEPTH)
                run_start, run_bytes = index + 1, 0
        parent.add(_serialize_run(holder_class, field, elements[run_start:]))

    def _stays_inline(self, size: int, depth: int) -> bool:
        """Whether a sub-message of `size` bytes below a message at `depth` is copied inline: small, and too
        small to nest past MAX_CHUNK_DEPTH (each nesting level costs at least two bytes)."""
        return size < self.value_threshold and depth + 1 + size // 2 < MAX_CHUNK_DEPTH

    def _place_object(
        self,
        field: FieldDescriptor,
        value: Message,
        path: Path,
        parent: _Skeleton,
        owner: _Owner,
        depth: int,
        object_depth: int,
    ) -> None:
        if object_depth >= _OBJECT_DEPTH:
            data = value.SerializeToString(deterministic=True)
            self._place_message(field, memoryview(data), 0, len(data), path, parent, owner, depth)
            return
        inner = self._walk_object(value, path, owner, depth + 1, object_depth)
        self._settle_message(field, inner, path, parent, owner)

    def _walk_wire(
        self, descriptor: Descriptor, buf, start: int, end: int, path: Path, owner: _Owner, depth: int
    ) -> _Skeleton:
        """Walks the serialized message buf[start:end] of type `descriptor` found at `path` below `owner`."""
        occurrences = list(wire.scan(buf, start, end))
        skeleton = _Skeleton()
        fragment_fields = self._fragment_bound_fields(descriptor, occurrences)
        fragments: list = []
        counts: dict[int, int] = {}
        for occ in occurrences:
            field = paths.find_field(descriptor, occ.field_number)
            index = counts.get(occ.field_number, 0)
            counts[occ.field_number] = index + 1
            oversized_entry = _is_scalar_map(field) and occ.end - occ.start > self.max_chunk_size
            if occ.field_number in fragment_fields and not oversized_entry:
                fragments.extend(self._fragment_pieces(field, buf, occ))
                skeleton.changed = True
            elif (
                field is None
                or occ.wire_type not in (wire.LEN, wire.START_GROUP)
                or (occ.payload_size < self.value_threshold and not self._may_be_too_deep(field, occ, depth))
            ):
                skeleton.add(bytes(buf[occ.start : occ.end]))
            else:
                step = (*path, (FIELD, field.number))
                if paths.is_map(field):
                    self._place_map_entry(field, buf, occ, step, skeleton, owner, depth)
                elif paths.is_repeated(field):
                    self._place_value(field, buf, occ, (*step, (INDEX, index)), skeleton, owner, depth)
                else:
                    self._place_value(field, buf, occ, step, skeleton, owner, depth)
        if fragments:
            self._emit_fragments(fragments, path, owner)
        return skeleton

    def _may_be_too_deep(self, field: FieldDescriptor, occ: wire.Occurrence, depth: int) -> bool:
        """Whether an inline copy of this occurrence could nest messages past MAX_CHUNK_DEPTH in a chunk.

        A non-recursive type has a fixed maximum depth; otherwise each nesting level costs at least two
        bytes, so small payloads are provably shallow."""
        if field.type not in _MESSAGE_TYPES:
            return False
        bound = static_depth(field.message_type)
        return (
            depth + 1 + min(bound if bound is not None else occ.payload_size, occ.payload_size // 2) >= MAX_CHUNK_DEPTH
        )

    def _fragment_bound_fields(self, descriptor: Descriptor, occurrences: list) -> set[int]:
        """Field numbers whose occurrences all move to fragments (too big and not addressable by path)."""
        bound = set()
        for occ in occurrences:
            if occ.payload_size < self.value_threshold or occ.field_number in bound:
                continue
            field = paths.find_field(descriptor, occ.field_number)
            if (
                field is None
                or (field.type not in _MESSAGE_TYPES + _BYTES_TYPES)
                or (_is_scalar_map(field) and occ.end - occ.start <= self.max_chunk_size)
            ):
                bound.add(occ.field_number)
        return bound

    def _fragment_pieces(self, field: FieldDescriptor | None, buf, occ: wire.Occurrence) -> list:
        """The occurrence as fragment pieces, each a valid serialized occurrence of at most max_chunk_size."""
        if occ.end - occ.start <= self.max_chunk_size:
            return [bytes(buf[occ.start : occ.end])]
        if (
            field is None
            or occ.wire_type != wire.LEN
            or not paths.is_repeated(field)
            or (field.type in _MESSAGE_TYPES + _BYTES_TYPES)
        ):
            raise SplitError(
                f"field {occ.field_number} has an occurrence of {occ.end - occ.start} bytes that "
                f"cannot be cut and exceeds max_chunk_size {self.max_chunk_size}"
            )
        budget = self.max_chunk_size - 16
        payload = buf[occ.payload_start : occ.end]
        return [
            wire.length_delimited(occ.field_number, len(part)) + bytes(part)
            for part in _packed_parts(field, payload, budget)
        ]

    # ---- placing big values ------------------------------------------------------------------------------

    def _place_value(
        self,
        field: FieldDescriptor,
        buf,
        occ: wire.Occurrence,
        path: Path,
        parent: _Skeleton,
        owner: _Owner,
        depth: int,
    ) -> None:
        """Handles a big bytes/string value or a big or deep sub-message at `path`."""
        if field.type in _BYTES_TYPES:
            self._emit_bytes(buf[occ.payload_start : occ.payload_end], path, owner)
            if paths.is_repeated(field):
                parent.add(_empty_element(field))
            parent.changed = True
            return
        self._place_message(field, buf, occ.payload_start, occ.payload_end, path, parent, owner, depth, occ=occ)

    def _place_message(
        self,
        field: FieldDescriptor,
        buf,
        start: int,
        end: int,
        path: Path,
        parent: _Skeleton,
        owner: _Owner,
        depth: int,
        occ: wire.Occurrence | None = None,
    ) -> None:
        """Walks a serialized sub-message and keeps it inline or moves it out, as its size and depth demand.

        A sub-message that would sit at MAX_CHUNK_DEPTH starts a chunk of its own (walked from depth 0)."""
        if self._stays_inline(end - start, depth):
            parent.add(bytes(buf[occ.start : occ.end]) if occ else _wrap(field, [buf[start:end]], end - start))
            return
        own_chunk = depth + 1 >= MAX_CHUNK_DEPTH
        inner = self._walk_wire(field.message_type, buf, start, end, path, owner, 0 if own_chunk else depth + 1)
        self._settle_message(field, inner, path, parent, owner, own_chunk)

    def _settle_message(
        self,
        field: FieldDescriptor,
        inner: _Skeleton,
        path: Path,
        parent: _Skeleton,
        owner: _Owner,
        own_chunk: bool = False,
    ) -> None:
        """Puts a walked sub-message's skeleton inline in its parent, or into fragment chunks at its path."""
        if not own_chunk and inner.size + 16 < self.value_threshold:
            parent.add(_wrap(field, inner.pieces, inner.size))
            parent.changed = parent.changed or inner.changed
            return
        parent.changed = True
        if paths.is_repeated(field):
            parent.add(_empty_element(field))
        self._emit_fragments(inner.pieces or [b""], path, owner)

    def _place_map_entry(
        self,
        field: FieldDescriptor,
        buf,
        occ: wire.Occurrence,
        path: Path,
        parent: _Skeleton,
        owner: _Owner,
        depth: int,
    ) -> None:
        """A big map entry: its value goes to chunks addressed by the map key.

        When what was cut out of a message value are independent leaves and the rest of the entry (key
        included) is small, the entry stays inline and the leaves get flat paths through the key (TensorFlow's
        layout for constants). Otherwise the value becomes a nested ChunkedMessage, because TensorFlow's Merger
        applies chunked fields under a map key in arbitrary order; the key then lives only in the metadata, so
        a key larger than max_chunk_size is no obstacle."""
        entry = field.message_type
        value_field = entry.fields_by_number[2]
        key, value_occ, other_pieces = _read_map_entry(entry, buf, occ)
        key_path = (*path, (KEY, key))
        parent.changed = True
        if value_field.type not in _MESSAGE_TYPES:
            # Too big to be a fragment (smaller ones were moved to fragments as a whole field):
            # pieces by key, our extension.
            self._emit_bytes(
                buf[value_occ.payload_start : value_occ.payload_end] if value_occ else b"", key_path, owner
            )
            return
        start = value_occ.payload_start if value_occ else occ.end
        end = value_occ.payload_end if value_occ else occ.end
        mark, fragments_before = len(owner.items), owner.fragment_chunks
        inner = self._walk_wire(value_field.message_type, buf, start, end, key_path, owner, depth + 2)
        added = owner.items[mark:]
        independent = owner.fragment_chunks == fragments_before and len({p for p, _ in added}) == len(added)
        others_size = sum(len(piece) for piece in other_pieces)
        if independent and others_size + inner.size + 32 < self.value_threshold and depth + 2 < MAX_CHUNK_DEPTH:
            value_piece = _wrap(value_field, inner.pieces, inner.size)
            parent.add(_wrap(field, [*other_pieces, value_piece], others_size + len(value_piece)))
            return
        if owner.nesting >= MAX_NESTING:
            # Too many nested ChunkedMessages for protobuf's recursion limit: fragments at the key path.
            self._emit_fragments(inner.pieces or [b""], key_path, owner)
            return
        del owner.items[mark:]
        nested = _Owner(
            value_field.message_type, owner.nesting + 1, [(item_path[len(key_path) :], sub) for item_path, sub in added]
        )
        chunk_index = self._sink.reserve()
        self._emit_owner_chunk(nested, inner, chunk_index)
        owner.attach(key_path, nested.chunked_message(chunk_index))

    # ---- emitting chunks -----------------------------------------------------------------------------------

    def _emit_bytes(self, data, path: Path, owner: _Owner) -> None:
        """A big bytes/string value: one BYTES chunk, or pieces merged back by concatenation."""
        step = self.max_chunk_size
        for begin in range(0, max(len(data), 1), step):
            index = self._sink.add(data[begin : begin + step], BYTES)
            owner.attach(path, chunk_pb2.ChunkedMessage(chunk_index=index))

    def _emit_fragments(self, pieces: list, path: Path, owner: _Owner) -> None:
        """Packs serialized field occurrences into MESSAGE chunks merged into the message at `path`."""
        for group in _pack(pieces, self.max_chunk_size):
            index = self._sink.add(b"".join(group), MESSAGE)
            owner.attach(path, chunk_pb2.ChunkedMessage(chunk_index=index))
            owner.fragment_chunks += 1

    def _emit_owner_chunk(self, owner: _Owner, skeleton: _Skeleton, chunk_index: int) -> None:
        """Fills an owner's own chunk with its skeleton, slicing the tail into fragments when too big."""
        kept, size = [], 0
        pieces = skeleton.pieces
        for position, piece in enumerate(pieces):
            if size + len(piece) > self.max_chunk_size:
                self._emit_fragments(pieces[position:], (), owner)
                break
            kept.append(piece)
            size += len(piece)
        self._sink.fill(chunk_index, b"".join(kept), MESSAGE)


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


def _wrap(field: FieldDescriptor, pieces: Iterable, size: int) -> bytes:
    """Serializes an occurrence of a message field from its payload pieces (groups get start/end tags)."""
    if field.type == _T.TYPE_GROUP:
        return b"".join(
            [wire.encode_tag(field.number, wire.START_GROUP), *pieces, wire.encode_tag(field.number, wire.END_GROUP)]
        )
    return b"".join([wire.length_delimited(field.number, size), *pieces])


def _serialize_run(holder_class: type, field: FieldDescriptor, elements) -> bytes:
    """The serialized occurrences of `elements` as elements of the repeated message field `field`."""
    if not elements:
        return b""
    holder = holder_class()
    (holder.Extensions[field] if field.is_extension else getattr(holder, field.name)).extend(elements)
    return holder.SerializeToString(deterministic=True)


def _empty_element(field: FieldDescriptor) -> bytes:
    """An empty element keeping a list index in place for a value merged from a chunk."""
    return _wrap(field, [], 0)


def _is_scalar_map(field: FieldDescriptor | None) -> bool:
    """True for map fields whose values are not messages."""
    return (
        field is not None
        and paths.is_map(field)
        and (field.message_type.fields_by_number[2].type not in _MESSAGE_TYPES)
    )


def _pack(pieces: list, limit: int) -> Iterable[list]:
    """Groups consecutive pieces into runs whose total size stays within limit."""
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


def object_size(message: Message, object_depth: int = 0) -> int:
    """The serialized size of `message`, computed field by field so that no multi-GiB buffer is built."""
    if object_depth >= _OBJECT_DEPTH or len(unknown_fields.UnknownFieldSet(message)):
        return message.ByteSize()
    rest = type(message)()
    total = 0
    for field, value in message.ListFields():
        if field.type in _MESSAGE_TYPES and not paths.is_map(field):
            elements = value if paths.is_repeated(field) else [value]
            if len(elements) <= _FEW_ELEMENTS:
                sizes = [object_size(element, object_depth + 1) for element in elements]
            else:
                sizes = [element.ByteSize() for element in elements]
            tag = len(wire.encode_tag(field.number, wire.LEN))
            total += sum(sizes) + len(sizes) * (2 * tag if field.type == _T.TYPE_GROUP else tag)
            if field.type != _T.TYPE_GROUP:
                total += _varint_lengths(sizes)
        else:
            paths.copy_field(rest, field, value)
    return total + rest.ByteSize()


def _varint_lengths(values: list[int]) -> int:
    """The total length of the varint encodings of non-negative `values` (one byte, plus one per 7 bits)."""
    array = np.asarray(values, dtype=np.uint64)
    return len(values) + sum(int(np.count_nonzero(array >= np.uint64(1 << shift))) for shift in range(7, 64, 7))
