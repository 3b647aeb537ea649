"""ps.Writer: writes one message as a `.cpb` piece by piece, for messages built (or streamed) in parts that should
never be held whole: memory holds what is pending, about a chunk per message being written into, never what was
written.

    with ps.Writer("out/model", GraphDef, max_chunk_size=64 << 20, options="zstd:1") as w:
        w.set("versions", versions)
        for node, weights in produce_nodes():
            w.append("node", node, buffers={"attr['value'].tensor.tensor_content": weights})  # numpy, no copy
        w.extend("library.function", functions)
    w.path  # "out/model.cpb"

Calls name fields by path (field_paths syntax, or a FieldPath) through singular message fields; each value, list
element or map entry is checked against the message type, serialized and laid out as the generic splitter lays out
the same message (incremental.py), so that ps.read and TensorFlow's Merger read the file into exactly the message
the calls describe. This module is the I/O edge: checks, state and the file.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from types import TracebackType
from typing import Any, BinaryIO, TypeGuard, cast

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from . import descriptors, field_paths, remote, riegeli
from .errors import FieldPathError, ProtoSplitterError, SplitError, WriterError
from .field_paths import Field, FieldPath, Key, Segment
from .files import RecordSink, output_prefix, remove_stale_sibling
from .incremental import IncrementalSplit, Scope
from .index_builder import IndexBuilder
from .splitter import DEFAULT_MAX_CHUNK_SIZE, GenericSplitter, _addressable_key, has_required_fields

DEFAULT_CHUNK_SIZE = 64 << 20  # pending memory is about this much per message written into
PathArg = str | FieldPath
Buffers = Mapping[PathArg, Any]
_BATCH = 1 << 14  # elements of an extend() checked and written at once
_T = FieldDescriptor


@dataclass
class _Written:
    """What the calls wrote into one message: singular fields (and oneofs) set, and map keys put."""

    singular: set[int | str] = dataclass_field(default_factory=set)
    keys: dict[int, set[Any]] = dataclass_field(default_factory=dict)


class Writer:
    """Writes a message of `message_class` piece by piece to `<prefix>.cpb` (appearing under its name only on
    close), to a URL as ps.write does (`s3://bucket/model`, `memory://...`, `file://...`, with `storage_options`;
    `size_hint`, the expected size, sizes the parts of a multipart upload), or to a binary file object, as
    ps.write would write it: `max_chunk_size` bounds message chunks (None: protobuf's 2 GiB limit; a larger single
    value is a chunk of its own, or cut with `cut_values=True`), `options` are Riegeli's writer options. The file
    is always a `.cpb`.

    Use it as a context manager: an exception inside the block aborts the file (nothing appears under its name).
    Not thread-safe.

    Raises:
        ProtoSplitterError: `message_class` is not a protobuf message class.
        ChunkedFileNotFoundError: the local folder of the prefix does not exist.
        SplitError: `max_chunk_size` is not None or an integer of at least 64.
        RiegeliError: `options` is not a valid options string.
        WriteError: the file (or remote object) cannot be created.
    """

    def __init__(
        self,
        dest: str | os.PathLike[str] | BinaryIO,
        message_class: type[Message],
        max_chunk_size: int | None = DEFAULT_CHUNK_SIZE,
        options: str | None = None,
        *,
        cut_values: bool = False,
        storage_options: Mapping[str, Any] | None = None,
        size_hint: int | None = None,
    ) -> None:
        if not (isinstance(message_class, type) and issubclass(message_class, Message)):
            raise ProtoSplitterError(f"expected a protobuf message class, got {message_class!r}")
        limit = DEFAULT_MAX_CHUNK_SIZE if max_chunk_size is None else max_chunk_size
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise SplitError(f"max_chunk_size must be None or an integer, got {max_chunk_size!r}")
        splitter = GenericSplitter(limit, cut_values=cut_values)
        self._descriptor = cast(Descriptor, message_class.DESCRIPTOR)
        self.path: str | None = None
        """`<prefix>.cpb` (or its URL) for a path or URL; None for a file object."""
        self._storage_options = storage_options
        self._destination: remote.Destination | None = None
        target: Any = dest
        if not hasattr(dest, "write"):
            self.path = output_prefix(dest) + ".cpb"
            self._destination = remote.open_destination(self.path, storage_options, size_hint)
            target = self._destination.file
        try:
            self._records = riegeli.RecordWriter(target, options=options)
        except BaseException:
            if self._destination is not None:
                self._destination.discard()
            raise
        self._sink = RecordSink(self._records, IndexBuilder(self._descriptor))  # every .cpb carries an index
        self._layout = IncrementalSplit(self._descriptor, splitter, self._sink)
        self._written: dict[FieldPath, _Written] = {FieldPath(): _Written()}
        self._set_whole: set[FieldPath] = set()
        self._failure: str | None = None
        self._closed = False

    # ---- calls -----------------------------------------------------------------------------------------------

    def set(self, path: PathArg, value: Any, *, buffers: Buffers | None = None) -> None:
        """Sets the singular field at `path` to `value`: a message of the field's type, a bytes-like object (numpy
        arrays too, written without a copy when large) for a bytes field, str for a string field, a number, bool or
        enum number otherwise. `buffers`: bytes values below a message value, by path from it (see append).

        Raises:
            FieldPathError: `path` names no field, or goes through a list element, map value or extension.
            WriterError: the field is a list or map, was set already (or another field of its oneof), or the value
                does not fit it; the writer is closed.
        """
        scope_path, field = self._target(path)
        if descriptors.is_repeated(field):
            raise WriterError(f"{self._name(scope_path, field)} is a {_kind(field)}: use {_adder(field)}()")
        slot = _slot(field)
        if slot in self._written.get(scope_path, _Written()).singular:
            raise WriterError(f"{self._name(scope_path, field)} was set already (a singular field is set once)")
        full_path = _child(scope_path, field)
        if field.message_type is not None:
            if full_path in self._written:
                raise WriterError(f"{self._name(scope_path, field)} was written into field by field: it cannot be set")
            message, extra = self._message(field.message_type, value, self._name(scope_path, field), buffers)
            if extra and (field.is_extension or field.type == _T.TYPE_GROUP):
                raise WriterError(f"{self._name(scope_path, field)} is written whole: buffers cannot go below it")
            self._do(lambda scope: self._layout.message_value(scope, field, message, extra), scope_path)
            self._set_whole.add(full_path)
        elif field.type in (_T.TYPE_BYTES, _T.TYPE_STRING) and not field.is_extension:
            data = self._bytes(field, value, self._name(scope_path, field))
            self._do(lambda scope: self._layout.bytes_value(scope, field, data), scope_path)
        else:
            data = self._serialized(scope_path, field, lambda holder: descriptors.set_scalar(holder, field, value))
            self._do(lambda scope: self._layout.serialized(scope, field, data), scope_path)
        self._written_in(scope_path).singular.add(slot)

    def append(self, path: PathArg, element: Any, *, buffers: Buffers | None = None) -> None:
        """Appends `element` to the list at `path` (a message of the list's type, or a scalar as for set).

        `buffers` maps paths below a message element (through singular message fields and map keys, e.g.
        ``"attr['value'].tensor.tensor_content"``) to bytes-like values (numpy arrays): they are written as if
        the element held them, straight from their memory, never copied into a protobuf message. The element must
        not hold a value at those paths.

        Raises:
            FieldPathError: as for set(), or a buffer's path does not reach a singular bytes field that way.
            WriterError: the field is not a list, or the element (or a buffer) does not fit it; the writer is closed.
        """
        scope_path, field = self._list_target(path)
        if field.message_type is None:
            if buffers:
                raise WriterError(f"buffers go below message elements; {self._name(scope_path, field)} holds scalars")
            self._extend_scalars(scope_path, field, [element])
            return
        element, extra = self._message(field.message_type, element, self._name(scope_path, field), buffers)
        if extra and not field.is_extension:
            self._do(lambda scope: self._layout.message_element(scope, field, element, extra), scope_path)
        else:
            if extra:
                raise WriterError(f"{self._name(scope_path, field)} is an extension: its elements are written whole")
            self._do(lambda scope: self._layout.message_elements(scope, field, [element]), scope_path)

    def extend(self, path: PathArg, elements: Iterable[Any]) -> None:
        """Appends every element of `elements` (any iterable, consumed once) to the list at `path`; small message
        elements are serialized and framed at C speed, without a Python step each.

        Elements are checked a batch at a time before the batch is written: a bad element in a later batch, once
        earlier ones are in the file, fails the writer (the file is discarded).

        Raises:
            FieldPathError, WriterError: as for append().
        """
        scope_path, field = self._list_target(path)
        name = self._name(scope_path, field)
        if field.message_type is not None and _is_message_list(elements):  # one type throughout: no batches needed
            if len(elements):
                self._check_messages(field.message_type, list(itertools.islice(elements, 1)), name)
                if has_required_fields(field.message_type):
                    self._check_messages(field.message_type, list(elements), name)
                self._do(functools.partial(self._layout.message_elements, field=field, elements=elements), scope_path)
            return
        iterator = iter(elements)
        first = True
        while batch := list(itertools.islice(iterator, _BATCH)):
            try:
                if field.message_type is None:
                    self._extend_scalars(scope_path, field, batch)
                else:
                    self._check_messages(field.message_type, batch, name)
                    self._do(functools.partial(self._layout.message_elements, field=field, elements=batch), scope_path)
            except WriterError as error:
                if not first:
                    self._fail(f"extend() of {name} met a bad element after writing others: {error}")
                raise
            first = False

    def put(self, path: PathArg, key: Any, value: Any, *, buffers: Buffers | None = None) -> None:
        """Puts `key` -> `value` in the map at `path` (value: a message of the map's value type, or a scalar);
        `buffers` as for append, below a message value.

        Raises:
            FieldPathError: as for set().
            WriterError: the field is not a map, the key was put already, the key or value does not fit the map, or
                buffers go below a key TensorFlow's Merger cannot find (a 64-bit key beyond 32 bits); the writer is
                closed.
        """
        scope_path, field = self._target(path)
        name = self._name(scope_path, field)
        if not descriptors.is_map(field):
            raise WriterError(f"{name} is not a map: use {_adder(field)}()")
        value_field = descriptors.map_value_field(field)
        self._check_key(field, key, name)
        if key in self._written.get(scope_path, _Written()).keys.get(field.number, ()):
            raise WriterError(f"{name} has key {key!r} already (a map key is put once)")
        if value_field.message_type is None:
            if buffers:
                raise WriterError(f"buffers go below message values; {name} holds scalars")
            data = self._serialized(scope_path, field, lambda holder: _put_scalar(holder, field, key, value, name))
            self._do(lambda scope: self._layout.serialized(scope, field, data), scope_path)
        else:
            message, extra = self._message(value_field.message_type, value, f"{name}[{key!r}]", buffers)
            if extra and (field.is_extension or not _addressable_key(descriptors.map_key_field(field), key)):
                raise WriterError(f"buffers below {name}[{key!r}]: TensorFlow's Merger cannot find that entry by key")
            keyed = {FieldPath((Key(key), *below)): data for below, data in extra.items()} if extra else None
            self._do(lambda scope: self._layout.map_entry(scope, field, key, message, keyed), scope_path)
        self._written_in(scope_path).keys.setdefault(field.number, set()).add(key)

    # ---- closing ---------------------------------------------------------------------------------------------

    def close(self) -> str | None:
        """Finishes the file: the remaining chunks, the index (what ps.open finds elements by) and the ChunkMetadata;
        for a path, moves it under its name (and removes a stale `<prefix>.pb`). Returns `path`. Closing twice does
        nothing more.

        Raises:
            SplitError: a required field of a message written into was never set (the file is discarded).
            WriterError: the writer failed earlier or was aborted.
            RiegeliError: writing the last chunks failed (the file is discarded).
            WriteError: the file (or remote object) could not be completed (it is discarded).
        """
        if self._closed and self._failure is None:
            return self.path
        self._check_open()
        try:
            self._check_required()
            chunked_message = self._layout.finish()
            self._sink.finish(chunked_message)  # the index, then the ChunkMetadata
            self._records.close()
            if self._destination is not None:
                self._destination.commit()
        except BaseException as error:
            self._fail(f"closing failed: {error}")
            raise
        self._closed = True
        if self.path is not None:
            remove_stale_sibling(self.path, self._storage_options)
        return self.path

    def abort(self) -> None:
        """Gives up: for a path, deletes what was written (nothing appears under its name). Later calls fail."""
        if not self._closed:
            self._fail("the writer was aborted")

    def __enter__(self) -> Writer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    # ---- checks ----------------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._failure is not None:
            raise WriterError(f"the writer is closed: {self._failure}")
        if self._closed:
            raise WriterError("the writer is closed")

    def _fail(self, reason: str) -> None:
        self._failure, self._closed = reason, True
        self._records.abort()
        if self._destination is not None:
            self._destination.discard()

    def _do(self, action: Callable[[Scope], None], scope_path: FieldPath) -> None:
        """Runs a layout action in the scope at `scope_path`; an error there fails the writer (chunks may be out)."""
        self._check_open()
        try:
            scope: Scope = self._layout.scope(scope_path)
            action(scope)
        except BaseException as error:
            self._fail(f"{type(error).__name__}: {error}")
            raise
        self._written_in(scope_path)

    def _target(self, path: PathArg) -> tuple[FieldPath, FieldDescriptor]:
        """The scope path and field a call's path names (checked)."""
        self._check_open()
        if isinstance(path, str):
            steps = field_paths.parse(path, self._descriptor)
        elif isinstance(path, tuple):
            steps = FieldPath(path)
        else:
            raise WriterError(f"a path is a str or a FieldPath, got {type(path).__name__}")
        segments = field_paths.resolve(self._descriptor, steps, FieldPathError)
        if not segments:
            raise FieldPathError("empty field path")
        for position, segment in enumerate(segments):
            if segment.subscript is not None:
                raise FieldPathError(
                    f"{field_paths.format_path(steps, self._descriptor)}: the Writer writes list elements and map "
                    "values whole; a path goes through singular message fields only"
                )
            if position < len(segments) - 1 and not _scope_field(segment):
                raise FieldPathError(
                    f"{segment.field.full_name} in {field_paths.format_path(steps, self._descriptor)}: a path goes "
                    "through singular message fields only (not lists, maps or extensions)"
                )
        scope_path = FieldPath(step for segment in segments[:-1] for step in segment.steps())
        for length in range(1, len(scope_path) + 1):
            if scope_path[:length] in self._set_whole:
                raise WriterError(f"{field_paths.format_path(scope_path[:length], self._descriptor)} was set whole")
        return scope_path, segments[-1].field

    def _list_target(self, path: PathArg) -> tuple[FieldPath, FieldDescriptor]:
        scope_path, field = self._target(path)
        if not descriptors.is_repeated(field) or descriptors.is_map(field):
            raise WriterError(f"{self._name(scope_path, field)} is {_kind(field)}: use {_adder(field)}()")
        return scope_path, field

    def _written_in(self, scope_path: FieldPath) -> _Written:
        written = self._written.get(scope_path)
        if written is None:
            for length in range(1, len(scope_path) + 1):
                self._written.setdefault(scope_path[:length], _Written())
            written = self._written[scope_path]
        return written

    def _name(self, scope_path: FieldPath, field: FieldDescriptor) -> str:
        return field_paths.format_path(_child(scope_path, field), self._descriptor)

    def _message(
        self, descriptor: Descriptor, value: Any, name: str, buffers: Buffers | None = None
    ) -> tuple[Message, dict[FieldPath, memoryview] | None]:
        """A message value checked (its type; its required fields, those its buffers supply included), and its
        buffers by checked path."""
        if not isinstance(value, Message) or value.DESCRIPTOR is not descriptor:
            kind = value.DESCRIPTOR.full_name if isinstance(value, Message) else type(value).__name__
            raise WriterError(f"{name} holds {descriptor.full_name} messages, got {kind}")
        extra = self._buffers(value, buffers)
        if has_required_fields(descriptor) and not _with_leaves(value, extra or {}).IsInitialized():
            missing = ", ".join(cast(Any, value).FindInitializationErrors()[:10])
            raise WriterError(f"the {descriptor.full_name} for {name} is missing required fields: {missing}")
        return value, extra

    def _check_messages(self, descriptor: Descriptor, batch: list[Any], name: str) -> None:
        message_class = message_factory.GetMessageClass(descriptor)
        if set(map(type, batch)) != {message_class}:
            wrong = next(element for element in batch if type(element) is not message_class)
            self._message(descriptor, wrong, name)
        if has_required_fields(descriptor) and not all(map(message_class.IsInitialized, batch)):
            self._message(descriptor, next(element for element in batch if not element.IsInitialized()), name)

    def _bytes(self, field: FieldDescriptor, value: Any, name: str) -> Any:
        if field.type == _T.TYPE_STRING:
            if not isinstance(value, str):
                raise WriterError(f"{name} is a string field: expected str, got {type(value).__name__}")
            return value.encode("utf-8")
        return _buffer(value, name)

    def _serialized(self, scope_path: FieldPath, field: FieldDescriptor, fill: Callable[[Message], None]) -> bytes:
        """The serialized occurrences of `field` that `fill(holder)` puts in a message of the scope's type (protobuf
        checks the values)."""
        holder = message_factory.GetMessageClass(_holder_type(field))()
        try:
            fill(holder)
        except (TypeError, ValueError) as error:
            raise WriterError(f"{self._name(scope_path, field)}: {error}") from None
        return holder.SerializePartialToString(deterministic=True)

    def _extend_scalars(self, scope_path: FieldPath, field: FieldDescriptor, values: list[Any]) -> None:
        if field.type == _T.TYPE_BYTES:
            values = [bytes(_buffer(value, self._name(scope_path, field))) for value in values]
        data = self._serialized(scope_path, field, lambda holder: descriptors.container(holder, field).extend(values))
        self._do(lambda scope: self._layout.serialized(scope, field, data), scope_path)

    def _check_key(self, field: FieldDescriptor, key: Any, name: str) -> None:
        holder = message_factory.GetMessageClass(_holder_type(field))()
        try:
            descriptors.container(holder, field)[key]
        except (TypeError, ValueError) as error:
            raise WriterError(f"{name}: bad key {key!r}: {error}") from None

    def _buffers(self, message: Message, buffers: Buffers | None) -> dict[FieldPath, memoryview] | None:
        """The buffers of a message value, by checked path below it (see append)."""
        if not buffers:
            return None
        result: dict[FieldPath, memoryview] = {}
        descriptor = cast(Descriptor, message.DESCRIPTOR)
        for path, data in buffers.items():
            steps = field_paths.parse(path, descriptor) if isinstance(path, str) else FieldPath(path)
            name = field_paths.format_path(steps, descriptor)
            segments = field_paths.resolve(descriptor, steps, FieldPathError)
            *way, leaf = segments
            if not all(_buffer_step(segment) for segment in way) or not _buffer_leaf(leaf):
                raise FieldPathError(
                    f"buffer {name!r} of {descriptor.full_name}: a buffer goes to a singular bytes field, through "
                    "singular message fields and keys of maps of messages"
                )
            if any(_unaddressable_key(segment) for segment in way):
                raise WriterError(f"buffer {name!r}: TensorFlow's Merger cannot find its map key")
            if _holds(message, segments):
                raise WriterError(f"buffer {name!r}: the {descriptor.full_name} holds a value there already")
            result[steps] = _buffer(data, f"buffer {name!r}")
        return result

    def _check_required(self) -> None:
        """Every message written into must end with its required fields set (else protobuf refuses to read it)."""
        for scope_path, written in self._written.items():
            descriptor = field_paths.target(self._descriptor, scope_path) if scope_path else self._descriptor
            assert descriptor is not None
            missing = [
                field.name
                for field in descriptor.fields
                if field.is_required
                and _slot(field) not in written.singular
                and _child(scope_path, field) not in self._written
            ]
            if missing:
                where = field_paths.format_path(scope_path, self._descriptor) or "the message"
                raise SplitError(f"{where} ({descriptor.full_name}) is missing required fields: {', '.join(missing)}")


def _is_message_list(elements: Iterable[Any]) -> TypeGuard[Sequence[Message]]:
    """Whether `elements` is a repeated message field of a message (all its elements have one type)."""
    return all(hasattr(elements, name) for name in ("add", "MergeFrom", "__len__", "__getitem__"))


def _kind(field: FieldDescriptor) -> str:
    if descriptors.is_map(field):
        return "map"
    return "list" if descriptors.is_repeated(field) else "singular field"


def _adder(field: FieldDescriptor) -> str:
    if descriptors.is_map(field):
        return "put"
    return "append" if descriptors.is_repeated(field) else "set"


def _scope_field(segment: Segment) -> bool:
    """Whether calls may write into this field's message piece by piece: a singular message field, no extension."""
    field = segment.field
    return field.message_type is not None and not descriptors.is_repeated(field) and not field.is_extension


def _buffer_step(segment: Segment) -> bool:
    """A step a buffer's path may take: a singular message field (not a group) or a key of a map of messages."""
    field = segment.field
    if field.is_extension or field.message_type is None:
        return False
    if descriptors.is_map(field):
        return isinstance(segment.subscript, Key) and descriptors.map_value_field(field).message_type is not None
    return not descriptors.is_repeated(field) and field.type == _T.TYPE_MESSAGE


def _buffer_leaf(segment: Segment) -> bool:
    field = segment.field
    return field.type == _T.TYPE_BYTES and not descriptors.is_repeated(field) and not field.is_extension


def _holds(message: Message, segments: list[Segment]) -> bool:
    """Whether the message holds a value at the end of the path (through messages it has)."""
    current: Any = message
    for segment in segments[:-1]:
        container = descriptors.container(current, segment.field)
        if isinstance(segment.subscript, Key):
            if segment.subscript.value not in container:
                return False
            current = container[segment.subscript.value]
        elif descriptors.has_value(current, segment.field):
            current = container
        else:
            return False
    return descriptors.has_value(current, segments[-1].field)


def _buffer(value: Any, name: str) -> memoryview:
    """A bytes-like value as a flat memoryview of its bytes, without a copy (numpy arrays must be contiguous)."""
    try:
        view = memoryview(value)
    except TypeError:
        raise WriterError(f"{name}: expected bytes or a buffer (numpy array), got {type(value).__name__}") from None
    if not view.contiguous:
        raise WriterError(f"{name}: the buffer is not contiguous (numpy.ascontiguousarray makes it so)")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def _with_leaves(message: Message, paths: Iterable[FieldPath]) -> Message:
    """The message, or when buffers go below it a copy with their fields set (empty), to check it is initialized."""
    paths = list(paths)
    if not paths:
        return message
    copy = type(message)()
    copy.CopyFrom(message)
    for path in paths:
        *way, leaf = field_paths.resolve(cast(Descriptor, message.DESCRIPTOR), path)
        holder: Any = copy
        for segment in way:
            container = descriptors.container(holder, segment.field)
            holder = container[segment.subscript.value] if isinstance(segment.subscript, Key) else container
        descriptors.set_scalar(holder, leaf.field, b"")
    return copy


def _holder_type(field: FieldDescriptor) -> Descriptor:
    """The message type holding a field (for an extension, the type it extends)."""
    return cast(Descriptor, field.containing_type)


def _unaddressable_key(segment: Segment) -> bool:
    """A map key that TensorFlow's Merger would not find (a 64-bit key beyond 32 bits)."""
    key = segment.subscript
    return isinstance(key, Key) and not _addressable_key(descriptors.map_key_field(segment.field), key.value)


def _child(scope_path: FieldPath, field: FieldDescriptor) -> FieldPath:
    """The path of `field` in the message at `scope_path`."""
    return FieldPath((*scope_path, Field(field.number)))


def _slot(field: FieldDescriptor) -> int | str:
    """What a set() takes in its message: the field, or its whole oneof."""
    return field.containing_oneof.full_name if field.containing_oneof is not None else field.number


def _put_scalar(holder: Message, field: FieldDescriptor, key: Any, value: Any, name: str) -> None:
    if descriptors.map_value_field(field).type == _T.TYPE_BYTES:
        value = bytes(_buffer(value, f"{name}[{key!r}]"))
    descriptors.container(holder, field)[key] = value
