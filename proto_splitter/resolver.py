"""The value at a field path of a chunked message, from only the chunks (and parts of chunks) that hold it.

A merge applies a ChunkedMessage's own chunk, then the ChunkedMessages attached with an empty path, then its other
chunked fields in TensorFlow's order (merger.py). The value at a path `Q` is that merge restricted to `Q`: the
`_Fold` walks the tree as the Merger does but visits only the chunked fields whose paths lead to `Q`, lie below
it, or create elements of the lists on the way; from each chunk merged into a message on the way it takes only
the occurrences of the next field of `Q`, numbering list elements across chunks as the merge appends them. With
an index, a chunk's occurrences of a field are counted without reading the chunk and one element is read from
its checkpoint; without an index, a chunk on the way is parsed whole.

Protobuf's merge rules are kept at every level: list elements append; a map entry replaces the value of an
earlier entry with its key; a singular message merges; a scalar keeps its last value. What lies below `Q` is
merged by the Merger itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from . import descriptors, field_paths, oversized, wire
from .chunk_tree import TreeNode
from .chunks import BYTES
from .errors import ChunkedProtoError, FieldPathError, ProtoSplitterError
from .field_paths import Field, FieldPath, Index, Key, Segment
from .index import Index as FileIndex
from .index import IndexMismatchError, StreamSummary
from .merger import Merger, _leaf_value
from .proto import chunk_pb2
from .records import RecordAccess

ALL = Index(-1)  # the subscript of a list level whose every element is wanted (iteration)
COUNT = Index(1 << 62)  # a subscript past every element: the fold counts the list
FIRST_WINDOW = 64 << 10
MAX_WINDOW = 16 << 20


class ElementNotFoundError(ProtoSplitterError, LookupError):
    """The path names a list element or map entry that the message does not have."""


def message_class(descriptor: Descriptor) -> type[Message]:
    """The generated class of a message type."""
    return message_factory.GetMessageClass(descriptor)


class Chunks:
    """The ChunkSource the Merger reads through: records checked against the index, `skip_bytes` leaving
    BYTES chunks out (a structure without its big values)."""

    def __init__(self, records: RecordAccess, infos: Sequence[chunk_pb2.ChunkInfo]):
        self._records, self._infos = records, infos

    def __len__(self) -> int:
        return len(self._infos)

    def chunk_type(self, index: int) -> int:
        return int(self._infos[index].type)

    def get(self, index: int) -> bytes | memoryview:
        return self._records.record(index)


@dataclass
class Source:
    """Where list elements come from, in order: `count` occurrences in a chunk's record (`chunk`), the elements
    of a parsed container (`elements`), or one element created empty by a chunked field (`count` 1, neither)."""

    count: int
    chunk: int | None = None
    elements: Any = None


class Resolver:
    """Answers path questions about one opened chunked message (see the module docstring)."""

    def __init__(self, root: TreeNode, records: RecordAccess):
        self.root, self.records = root, records
        self.chunks = Chunks(records, records.infos)

    @property
    def index(self) -> FileIndex | None:
        return self.records.index

    # ---- public questions ------------------------------------------------------------------------------------

    def value(self, path: FieldPath, skip_bytes: bool = False) -> tuple[bool, Any]:
        """(whether it is set, the value) at `path`: a message, a scalar, or for a list or map without subscript a
        list or dict. ElementNotFoundError for a missing element or entry on the way."""
        segments = field_paths.resolve(self.root.descriptor, path, FieldPathError)
        last = segments[-1] if segments else None
        if last is not None and last.subscript is None and descriptors.is_repeated(last.field):
            fold = _Fold(self, segments[:-1], skip_bytes, collect=last.field)
            fold.node(self.root, 0)
            _, holder = fold.result()
            items = descriptors.container(holder, last.field)
            return len(items) > 0, dict(items) if descriptors.is_map(last.field) else list(items)
        fold = _Fold(self, segments, skip_bytes)
        fold.node(self.root, 0)
        return fold.result()

    def count(self, path: FieldPath) -> int:
        """The number of elements of the list at `path`."""
        segments = _with_subscript(self.root.descriptor, path, COUNT)
        fold = _Fold(self, segments, False)
        fold.node(self.root, 0)
        fold.check_reached(len(segments) - 1)
        return fold.counts.get(len(segments) - 1, 0)

    def elements(
        self, path: FieldPath, skip_bytes: bool = False, where: tuple[int, int] | None = None
    ) -> Iterator[tuple[int, Any]]:
        """(index, element) for the elements of the list at `path`, in order, each merged with what lies below it.
        `where` = (key field, key hash) keeps only the elements whose key field (last length-delimited
        occurrence) has that hash, and those with chunks of their own (the others are not built: a chunk's keys
        are read at wire level, and the chunk is then read whole rather than in windows)."""
        segments = _with_subscript(self.root.descriptor, path, ALL)
        fold = _Fold(self, segments, skip_bytes)
        fold.node(self.root, 0)
        fold.check_reached(len(segments) - 1)
        field = segments[-1].field
        element_class = message_class(field.message_type) if field.message_type is not None else None
        position = 0
        for source in fold.sources:
            for local, element in self._source_elements(source, field, element_class, where, fold.below, position):
                below = fold.below.get(position + local)
                if below:
                    fold.merge_into(element, below)
                yield position + local, element
            position += source.count

    def _source_elements(
        self,
        source: Source,
        field: FieldDescriptor,
        element_class: type[Message] | None,
        where: tuple[int, int] | None,
        below: dict[int, list[tuple[FieldPath, list[TreeNode]]]],
        position: int,
    ) -> Iterator[tuple[int, Any]]:
        """(index within the source, element) of one source of list elements (see `elements`)."""
        if source.elements is not None:
            for local, element in enumerate(source.elements):
                if where is None or position + local in below or _key_hash(element, where[0]) == where[1]:
                    yield local, element
        elif source.chunk is None:
            yield 0, element_class() if element_class is not None else None
        elif element_class is None:  # _Fold makes chunk sources for lists of messages only
            raise ChunkedProtoError(f"chunk {source.chunk} holds the elements of a list that is not of messages")
        elif where is None:
            for local, payload in enumerate(self.payloads(source.chunk, field.number, source.count)):
                yield local, oversized.parse(element_class, payload)
        else:
            data = self.records.record(source.chunk)
            keys = wire.element_keys(data, 0, len(data), field.number, where[0])
            if len(keys) != source.count:
                raise IndexMismatchError(f"chunk {source.chunk} has {len(keys)} occurrences of field {field.number}")
            chosen = set(np.flatnonzero(keys == where[1]).tolist())
            chosen.update(index - position for index in below if 0 <= index - position < source.count)
            summary = self.summary(source.chunk)
            for local in sorted(chosen):
                occurrence = self.occurrence(source.chunk, summary, field.number, local, data) if summary else None
                if occurrence is None:
                    occurrence = list(self.occurrences(source.chunk, field.number, local + 1))[-1]
                yield local, oversized.parse(element_class, payload_of(occurrence))

    # ---- reading occurrences -------------------------------------------------------------------------------

    def summary(self, chunk: int) -> StreamSummary | None:
        """The index's summary of a MESSAGE chunk (None: read it whole)."""
        return self.index.streams.get(chunk) if self.index is not None else None

    def occurrence(
        self, chunk: int, summary: StreamSummary, number: int, ordinal: int, data: bytes | memoryview | None = None
    ) -> memoryview:
        """The bytes of the `ordinal`-th occurrence of field `number` in a chunk's record (`data` when it is at
        hand), found from its checkpoint (the checkpoint must be an occurrence of the field, and the occurrence
        must lie within the record)."""
        first, offset = summary.checkpoint_before(number, ordinal)
        size = self.records.size(chunk)
        end_of_window = min(size, offset + self.index_gap() + 64)
        if data is not None:
            found, start, end = wire.nth_occurrence(data, offset, end_of_window, number, ordinal - first)
            if not found or (ordinal == first and start != offset) or end > size:
                raise IndexMismatchError(
                    f"the index places occurrence {ordinal} of field {number} of chunk {chunk} wrongly"
                )
            return memoryview(data)[start:end]
        window = self.records.read(chunk, offset, end_of_window)
        found, start, end = wire.nth_occurrence(window, 0, len(window), number, ordinal - first)
        if not found or (ordinal == first and start != 0) or offset + end > size:
            raise IndexMismatchError(
                f"the index places occurrence {ordinal} of field {number} of chunk {chunk} near byte {offset}, "
                "where it is not"
            )
        if end <= len(window):
            return window[start:end]
        return self.records.read(chunk, offset + start, offset + end)

    def index_gap(self) -> int:
        return self.index.checkpoint_gap if self.index is not None else 0

    def occurrences(self, chunk: int, number: int, limit: int | None = None) -> Iterator[memoryview]:
        """The occurrences of field `number` in a chunk's record, in order (at most `limit`), read in windows
        (from the field's first checkpoint when the index has one): a chunk is read once, a window at a time."""
        size = self.records.size(chunk)
        summary = self.summary(chunk)
        position, found, window_size = 0, 0, FIRST_WINDOW
        if summary is not None:
            limit = summary.count(number) if limit is None else limit
            if not limit:
                return
            position = summary.checkpoint_before(number, 0)[1]
        while position < size and (limit is None or found < limit):
            window = self.records.read(chunk, position, min(size, position + window_size))
            _, complete, _ = wire.nth_occurrence(window, 0, len(window), number, 1 << 62)
            if complete == 0:  # one occurrence larger than the window: take a larger one
                if len(window) == size - position:
                    raise wire.WireFormatError(f"chunk {chunk} ends inside an occurrence at byte {position}")
                window_size *= 2
                continue
            complete = min(complete, len(window))
            table = wire.occurrence_table(window, 0, complete)
            for key, start, end in zip(table.keys.tolist(), table.starts.tolist(), table.ends.tolist(), strict=True):
                if key >> 3 == number:
                    yield window[start:end]
                    found += 1
                    if limit is not None and found == limit:
                        return
            position += complete
            window_size = min(MAX_WINDOW, window_size * 2)
        if summary is not None and found != limit:
            raise IndexMismatchError(f"chunk {chunk} has {found} occurrences of field {number}, its index {limit}")

    def payloads(self, chunk: int, number: int, count: int) -> Iterator[memoryview]:
        """The payloads of the first `count` length-delimited occurrences of field `number` in a chunk."""
        for occurrence in self.occurrences(chunk, number, count):
            yield payload_of(occurrence)

    def holder(self, descriptor: Descriptor, chunk: int, number: int) -> Message:
        """A message of type `descriptor` holding only the occurrences of field `number` in a chunk's record."""
        data = b"".join(bytes(occurrence) for occurrence in self.occurrences(chunk, number))
        return oversized.parse(message_class(descriptor), data)

    def leaf_chunks(self, path: FieldPath) -> list[int]:
        """The BYTES chunks attached exactly at `path` (a bytes value stored in chunks of its own), in merge order."""
        found: list[int] = []
        _leaves(self.root, path, found)
        return [chunk for chunk in found if self.chunks.chunk_type(chunk) == BYTES]


def _key_hash(element: Message, key_field: int) -> int:
    """The key hash of an element's key field (as wire.element_keys computes it at wire level)."""
    field = descriptors.descriptor_of(element).fields_by_number.get(key_field)
    if field is None or not descriptors.has_value(element, field):
        return wire.key_hash(b"")
    value = descriptors.container(element, field)
    return wire.key_hash(value.encode("utf-8") if isinstance(value, str) else bytes(value))


def payload_of(occurrence: memoryview) -> memoryview:
    """The payload of one length-delimited occurrence."""
    key, position = wire.decode_varint(occurrence, 0, len(occurrence))
    if key & 7 != wire.LEN:
        raise ChunkedProtoError(f"field {key >> 3} is not length-delimited where a message is expected")
    size, position = wire.decode_varint(occurrence, position, len(occurrence))
    if position + size != len(occurrence):
        raise ChunkedProtoError(f"an occurrence of field {key >> 3} has a wrong length")
    return occurrence[position:]


def _leaves(node: TreeNode, path: FieldPath, found: list[int]) -> None:
    rest = path[len(node.base) :]
    for sub in node.empty:
        _leaves(sub, path, found)
    for relative, child in node.fields_along(rest):
        if relative == rest:
            if child.chunk is not None and not child.cm.chunked_fields:
                found.append(child.chunk)
        elif rest.startswith(relative):
            _leaves(child, path, found)


def _relate(rest: FieldPath, path: FieldPath) -> tuple[str, int | None, FieldPath]:
    """How a chunked field's `path` relates to the `rest` of the path wanted (from the same message): "on the
    way" (a prefix of it), "below" it (with what follows, and the index ALL matched), or "apart"."""
    element = None
    for position, step in enumerate(path):
        if position == len(rest):
            return "below", element, path[position:]
        wanted = rest[position]
        if wanted == ALL and isinstance(step, Index):
            element = step.value
        elif wanted != step:
            return "apart", None, FieldPath()
    if element is not None:
        return "below", element, FieldPath()  # an element itself: merged into it
    return "on the way", None, FieldPath()


def _with_subscript(descriptor: Descriptor, path: FieldPath, subscript: Index) -> list[Segment]:
    """The segments of a path to a list, the list's own segment given `subscript`."""
    segments = field_paths.resolve(descriptor, path, FieldPathError)
    if not segments:
        raise FieldPathError("a list path is needed")
    last = segments[-1]
    if last.subscript is not None or not descriptors.is_repeated(last.field) or descriptors.is_map(last.field):
        raise FieldPathError(f"{field_paths.format_path(path, descriptor)} is not a list")
    return [*segments[:-1], Segment(last.field, subscript)]


class _Fold:
    """One walk of the tree towards the value at the path `segments` (see the module docstring).

    `counts[j]`: the elements so far of the list at level j (a list segment), in the element the path follows;
    `reached`: the levels whose element (or map entry) exists; `value`: what has been merged at the path. With the
    subscript ALL at the last level, `sources` lists where its elements come from and `below[i]` what is merged
    into element i; with COUNT, only `counts` matters."""

    def __init__(
        self, resolver: Resolver, segments: list[Segment], skip_bytes: bool, collect: FieldDescriptor | None = None
    ):
        self.r, self.segments, self.skip_bytes, self.collect = resolver, segments, skip_bytes, collect
        self.n = len(segments)
        self.bounds = [0]
        for segment in segments:
            self.bounds.append(self.bounds[-1] + len(segment.steps()))
        self.steps = FieldPath(step for segment in segments for step in segment.steps())
        self.target = segments[-1].target if segments else resolver.root.descriptor
        self.counts: dict[int, int] = {}
        self.reached: set[int] = set()
        self.value: Any = None
        self.has_value = False
        self.sources: list[Source] = []
        self.below: dict[int, list[tuple[FieldPath, list[TreeNode]]]] = {}

    # ---- the tree --------------------------------------------------------------------------------------------

    def node(self, node: TreeNode, k: int) -> None:
        """Applies a ChunkedMessage whose message is at level k of the path."""
        if k == self.n and self.collect is not None:
            self.collect_node(node)
            return
        if k == self.n:
            self.merge_into(self.message(), [(FieldPath(), [node])])
            return
        if node.chunk is not None:
            self.stream(node, k)
        for sub in node.empty:
            self.node(sub, k)
        segment = self.segments[k]
        family = node.family(segment.field.number)
        subscript = segment.subscript
        if isinstance(subscript, Index) and subscript is not ALL:
            indices = family.indices()  # elements created before the one the path follows
            for index in indices[int(np.searchsorted(indices, self.counts.get(k, 0))) :].tolist():
                if index >= subscript.value:
                    break
                self.create(k, index)
            positions = family.positions.get(("i", subscript.value), [])
        elif isinstance(subscript, Key):
            positions = family.positions.get(("k", subscript.value), [])
        elif subscript is ALL:
            positions = [p for key, ps in family.positions.items() if key is not None for p in ps]
        else:
            positions = family.positions.get(None, [])
        fields = node.ordered(positions)
        start = 0
        while start < len(fields):
            end = start + 1
            while end < len(fields) and fields[end][0] == fields[start][0]:
                end += 1
            self.field(fields[start][0], [child for _, child in fields[start:end]], k)
            start = end

    def collect_node(self, node: TreeNode) -> None:
        """Applies, of a ChunkedMessage at the path, only what it merges into the field collected."""
        assert self.collect is not None
        number = self.collect.number
        if node.chunk is not None:
            summary = self.r.summary(node.chunk) if self.r.chunks.chunk_type(node.chunk) != BYTES else None
            if summary is not None:
                if summary.count(number):
                    self.parsed(self.r.holder(node.descriptor, node.chunk, number), self.n)
            else:
                self.stream(node, self.n)
        for sub in node.empty:
            self.collect_node(sub)
        family = node.family(number)
        fields = node.ordered([position for positions in family.positions.values() for position in positions])
        if fields:
            self.merge_into(self.message(), [(path, [child]) for path, child in fields])

    def field(self, path: FieldPath, children: list[TreeNode], k: int) -> None:
        """Applies the chunked fields at `path` (relative to the message at level k)."""
        self.touch(path, k)
        relation, element, below = _relate(self.steps[self.bounds[k] :], path)
        if relation == "on the way":
            end = self.bounds[k] + len(path)
            if end not in self.bounds:
                raise ChunkedProtoError(f"a chunked field stops inside {field_paths.format_path(self.steps)}")
            level = self.bounds.index(end)
            if level == self.n and self.target is None:
                self.set_value(self.leaf(children))
                return
            for child in children:
                self.node(child, level)
        elif relation == "below" and element is not None:
            self.below.setdefault(element, []).append((below, children))
        elif relation == "below" and (self.collect is None or below[0] == Field(self.collect.number)):
            self.merge_into(self.message(), [(below, children)])

    def touch(self, path: FieldPath, k: int) -> None:
        """A chunked field whose path passes through an element of a list on the way creates it when it is the
        next one (as the Merger does); an index past the next one is an error, as in a whole merge."""
        position = 0
        for level in range(k, self.n):
            segment = self.segments[level]
            if position >= len(path) or path[position] != Field(segment.field.number):
                return
            if segment.subscript is None:
                position += 1
                continue
            if position + 1 >= len(path):
                return
            step = path[position + 1]
            if isinstance(segment.subscript, Index) and isinstance(step, Index):
                self.create(level, step.value)
                if segment.subscript is not ALL and step.value != segment.subscript.value:
                    return
            elif isinstance(segment.subscript, Key) and step == segment.subscript:
                self.reached.add(level)
            else:
                return
            position += 2

    def create(self, level: int, index: int) -> None:
        count = self.counts.get(level, 0)
        if index < count:
            return
        if index > count:
            raise ChunkedProtoError(
                f"index {index} is out of range for {self.segments[level].field.full_name} ({count} elements)"
            )
        self.counts[level] = count + 1
        subscript = self.segments[level].subscript
        if subscript is ALL:
            self.sources.append(Source(1))
        elif isinstance(subscript, Index) and subscript.value == index:
            self.enter(level)

    # ---- chunks on the way ---------------------------------------------------------------------------------

    def stream(self, node: TreeNode, k: int) -> None:
        """Takes from a node's own chunk (a message at level k) what lies on the path."""
        chunk = node.chunk
        assert chunk is not None
        if self.r.chunks.chunk_type(chunk) == BYTES:
            raise ChunkedProtoError(f"chunk {chunk} is a BYTES chunk but is merged as a {node.descriptor.full_name}")
        summary = self.r.summary(chunk)
        if summary is None or k == self.n:
            self.parsed(oversized.parse(message_class(node.descriptor), self.r.records.record(chunk)), k)
            return
        segment = self.segments[k]
        field, subscript, number = segment.field, segment.subscript, segment.field.number
        count = summary.count(number)
        if not count:
            return
        is_list = descriptors.is_repeated(field) and not descriptors.is_map(field)
        if is_list and field.type == FieldDescriptor.TYPE_MESSAGE and isinstance(subscript, Index):
            if subscript is ALL:
                self.sources.append(Source(count, chunk=chunk))
            else:
                local = subscript.value - self.counts.get(k, 0)
                if 0 <= local < count:
                    occurrence = self.r.occurrence(chunk, summary, number, local)
                    assert field.message_type is not None  # a field of TYPE_MESSAGE
                    element = oversized.parse(message_class(field.message_type), payload_of(occurrence))
                    self.enter(k)
                    self.parsed(element, k + 1)
            self.counts[k] = self.counts.get(k, 0) + count
            return
        self.parsed(self.r.holder(node.descriptor, chunk, number), k)

    def parsed(self, message: Message, k: int) -> None:
        """Takes from a message at level k (parsed from a chunk, or an element of one) what lies on the path."""
        if k == self.n and self.collect is not None:
            descriptors.container(self.message(), self.collect).MergeFrom(descriptors.container(message, self.collect))
            return
        if k == self.n:
            self.message().MergeFrom(message)
            return
        segment = self.segments[k]
        field, subscript = segment.field, segment.subscript
        if isinstance(subscript, Index):
            items = descriptors.container(message, field)
            if subscript is ALL:
                if len(items):
                    self.sources.append(Source(len(items), elements=items))
            elif subscript is not COUNT:
                local = subscript.value - self.counts.get(k, 0)
                if 0 <= local < len(items):
                    self.enter(k)
                    self.descend(items[local], field, k)
            self.counts[k] = self.counts.get(k, 0) + len(items)
        elif isinstance(subscript, Key):
            entries = descriptors.container(message, field)
            if subscript.value in entries:
                self.enter(k)
                self.descend(entries[subscript.value], descriptors.map_value_field(field), k)
        elif descriptors.has_value(message, field):
            self.descend(descriptors.container(message, field), field, k)

    def descend(self, value: Any, field: FieldDescriptor, k: int) -> None:
        if field.message_type is not None:
            self.parsed(value, k + 1)
        else:
            self.set_value(value)

    def enter(self, level: int) -> None:
        """The element (or map entry) at `level` comes into being (again, for a map key): it starts empty."""
        self.reached.add(level)
        for deeper in range(level + 1, self.n):
            self.counts.pop(deeper, None)
            self.reached.discard(deeper)
        self.value, self.has_value = None, False

    # ---- the value ---------------------------------------------------------------------------------------------

    def message(self) -> Message:
        if self.target is None:
            raise ChunkedProtoError(f"a chunk is merged as a message at {field_paths.format_path(self.steps)}")
        if self.value is None:
            self.value = message_class(self.target)()
        return self.value  # type: ignore[no-any-return]

    def set_value(self, value: Any) -> None:
        self.value, self.has_value = value, True

    def leaf(self, children: list[TreeNode]) -> Any:
        """The value of a bytes/string (or scalar) path from its chunks: BYTES chunks joined (value pieces)."""
        parts = []
        for child in children:
            if child.chunk is None or child.cm.chunked_fields:
                raise ChunkedProtoError("a chunk for a non-message field must be a single chunk without fields")
            if self.r.chunks.chunk_type(child.chunk) not in (BYTES, chunk_pb2.ChunkInfo.UNSET):
                raise ChunkedProtoError(f"chunk {child.chunk} is a message but is used as a field value")
            parts.append(bytes(self.r.records.record(child.chunk)))
        last = self.segments[-1]
        field = descriptors.map_value_field(last.field) if isinstance(last.subscript, Key) else last.field
        return _leaf_value(field, b"".join(parts))

    def merge_into(self, target: Message, fields: list[tuple[FieldPath, list[TreeNode]]]) -> None:
        """Merges chunked fields (paths relative to `target`) with the Merger."""
        cm = chunk_pb2.ChunkedMessage()
        for path, children in fields:
            if self.skip_bytes:  # a value's chunks left out: the fields left are those of messages
                children = [child for child in children if not self._bytes_leaf(child)]
            if not children:
                continue
            tags = field_paths.to_field_tags(path, descriptors.descriptor_of(target))
            for child in children:
                sub = _without_bytes(child.cm, self.r.chunks) if self.skip_bytes else child.cm
                cm.chunked_fields.add(field_tag=tags, message=sub)
        if cm.chunked_fields:
            Merger(self.r.chunks).merge(cm, target)

    def _bytes_leaf(self, child: TreeNode) -> bool:
        """Whether a chunked field is a BYTES chunk (a value stored in a chunk of its own)."""
        return child.chunk is not None and self.r.chunks.chunk_type(child.chunk) == BYTES

    def check_reached(self, levels: int) -> None:
        """Raises ElementNotFoundError unless every list element and map entry on the first `levels` is there."""
        for level in range(levels):
            if self.segments[level].subscript is not None and level not in self.reached:
                shown = field_paths.format_path(self.steps[: self.bounds[level + 1]], self.r.root.descriptor)
                raise ElementNotFoundError(f"the message has no {shown}")

    def result(self) -> tuple[bool, Any]:
        """(whether anything was merged or set at the path, its value or default)."""
        self.check_reached(self.n)
        if self.target is not None:  # an element or entry on the way is there (checked): so is one at the end
            present = self.value is not None or (bool(self.segments) and self.segments[-1].subscript is not None)
            return present, self.message()
        if self.has_value:
            return True, self.value
        last = self.segments[-1]
        field = descriptors.map_value_field(last.field) if isinstance(last.subscript, Key) else last.field
        return False, field.default_value


def _without_bytes(cm: chunk_pb2.ChunkedMessage, chunks: Chunks) -> chunk_pb2.ChunkedMessage:
    """A copy of a ChunkedMessage tree without its BYTES leaves (the structure of a message without its values)."""
    if not any(field.message.HasField("chunk_index") for field in cm.chunked_fields) and not cm.chunked_fields:
        return cm
    copy = chunk_pb2.ChunkedMessage()
    if cm.HasField("chunk_index"):
        copy.chunk_index = cm.chunk_index
    for field in cm.chunked_fields:
        sub = field.message
        if sub.HasField("chunk_index") and not sub.chunked_fields and chunks.chunk_type(sub.chunk_index) == BYTES:
            continue
        copy.chunked_fields.add(field_tag=field.field_tag, message=_without_bytes(sub, chunks))
    return copy
