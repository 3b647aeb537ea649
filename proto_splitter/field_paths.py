"""Field paths: where a value sits below a message, as a typed sequence of steps (a field number, a list index,
a map key), and the one walker that resolves a path against message types.

Paths come from ChunkMetadata (FieldIndex lists), from users (text such as ``node[3].attr['value']``) and from
the splitter; as FieldPaths they compare, hash, slice and concatenate alike. Every module that follows a path
resolves it with `resolve` into Segments (a field with its optional subscript), so the rules live here once: a
field may be followed by one list index (repeated, non-map fields) or one map key (map fields), and a path only
continues through message values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, SupportsIndex, cast, overload

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from . import descriptors
from .errors import ChunkedProtoError, FieldPathError, ProtoSplitterError
from .proto import chunk_pb2

MapKeyValue = str | bool | int


@dataclass(frozen=True, slots=True)
class Field:
    """A step into the field with this number (a regular field or an extension)."""

    number: int


@dataclass(frozen=True, slots=True)
class Index:
    """A step to one element of a list."""

    value: int


@dataclass(frozen=True, slots=True)
class Key:
    """A step to the value of one map entry."""

    value: MapKeyValue


Step = Field | Index | Key


class FieldPath(tuple[Step, ...]):
    """An immutable sequence of steps below some message type; slices and sums are FieldPaths too."""

    __slots__ = ()

    def __new__(cls, steps: Iterable[Step] = ()) -> FieldPath:
        return super().__new__(cls, steps)

    def __add__(self, other: tuple[Step, ...]) -> FieldPath:  # type: ignore[override]
        return FieldPath(tuple.__add__(self, other))

    @overload
    def __getitem__(self, item: SupportsIndex) -> Step: ...

    @overload
    def __getitem__(self, item: slice) -> FieldPath: ...

    def __getitem__(self, item: SupportsIndex | slice) -> Step | FieldPath:
        if isinstance(item, slice):
            return FieldPath(tuple.__getitem__(self, item))
        return tuple.__getitem__(self, item)

    def __repr__(self) -> str:
        return f"FieldPath({format_path(self)!r})"

    def startswith(self, prefix: Sequence[Step]) -> bool:
        """Whether `prefix` is a prefix of this path (every path starts with the empty one)."""
        return tuple.__getitem__(self, slice(0, len(prefix))) == tuple(prefix)

    def related(self, other: Sequence[Step]) -> bool:
        """Whether one of the two paths is a prefix of the other (one holds or lies inside the other)."""
        return self.startswith(other) or FieldPath(other).startswith(self)


@dataclass(frozen=True, slots=True)
class Segment:
    """One field of a path, with its subscript, resolved against the message type holding the field."""

    field: FieldDescriptor
    subscript: Index | Key | None

    @property
    def target(self) -> Descriptor | None:
        """The message type the segment reaches: a map value's type after a key, an element's type, the field's
        own type; None for a value that is not a message."""
        if descriptors.is_map(self.field) and isinstance(self.subscript, Key):
            return descriptors.map_value_field(self.field).message_type
        return self.field.message_type

    def steps(self) -> tuple[Step, ...]:
        """The segment's steps."""
        return (Field(self.field.number),) if self.subscript is None else (Field(self.field.number), self.subscript)


def resolve(
    descriptor: Descriptor, path: Sequence[Step], error: type[ProtoSplitterError] = ChunkedProtoError
) -> list[Segment]:
    """The segments of `path` below a message of type `descriptor`; raises `error` when the path does not fit
    the types (a field that does not exist, a subscript on the wrong kind of field, a step past a value)."""
    segments: list[Segment] = []
    current: Descriptor | None = descriptor
    position = 0
    while position < len(path):
        step = path[position]
        if not isinstance(step, Field):
            raise error(f"step {position} ({_describe(step)}) does not follow a field number")
        if current is None:
            raise error(f"field {step.number} (step {position}) descends into a value that is not a message")
        field = descriptors.find_field(current, step.number)
        if field is None:
            raise error(f"field number {step.number} is not a field of {current.full_name}")
        position += 1
        subscript: Index | Key | None = None
        if position < len(path) and not isinstance(path[position], Field):
            subscript = _check_subscript(field, path[position], error)
            position += 1
        segment = Segment(field, subscript)
        segments.append(segment)
        current = segment.target
    return segments


def _check_subscript(field: FieldDescriptor, step: Step, error: type[ProtoSplitterError]) -> Index | Key:
    if isinstance(step, Index):
        if not descriptors.is_repeated(field) or descriptors.is_map(field):
            raise error(f"list index on {field.full_name}, which is not a list")
        return step
    if not isinstance(step, Key) or not descriptors.is_map(field):
        raise error(f"map key on {field.full_name}, which is not a map")
    return step


def target(descriptor: Descriptor, path: Sequence[Step]) -> Descriptor | None:
    """The message type at the end of `path` (None for a value that is not a message)."""
    segments = resolve(descriptor, path)
    return segments[-1].target if segments else descriptor


def _describe(step: Step) -> str:
    if isinstance(step, Field):
        return f"field {step.number}"
    return f"index {step.value}" if isinstance(step, Index) else f"map key {step.value!r}"


# ---- ChunkMetadata's FieldIndex lists ----------------------------------------------------------------------

_T = FieldDescriptor
# MapKey oneof member used for each map key type (TensorFlow's choice where it has one; sint/fixed widths,
# which TensorFlow leaves unimplemented, use the member of the same signedness and width).
_KEY_MEMBER = {
    _T.TYPE_STRING: "s",
    _T.TYPE_BOOL: "boolean",
    _T.TYPE_INT32: "i32",
    _T.TYPE_SINT32: "i32",
    _T.TYPE_SFIXED32: "i32",
    _T.TYPE_INT64: "i64",
    _T.TYPE_SINT64: "i64",
    _T.TYPE_SFIXED64: "i64",
    _T.TYPE_UINT32: "ui32",
    _T.TYPE_FIXED32: "ui32",
    _T.TYPE_UINT64: "ui64",
    _T.TYPE_FIXED64: "ui64",
}
_INT_RANGES = {
    "i32": (-(1 << 31), (1 << 31) - 1),
    "i64": (-(1 << 63), (1 << 63) - 1),
    "ui32": (0, (1 << 32) - 1),
    "ui64": (0, (1 << 64) - 1),
}


def from_field_tags(field_tags: Iterable[chunk_pb2.FieldIndex], descriptor: Descriptor | None = None) -> FieldPath:
    """The FieldPath of a ChunkedField's FieldIndex list. With `descriptor` (the type the tags are relative
    to) the path is checked against it and map keys against their key types (ChunkedProtoError); without,
    it is taken as it is (to show or compare the tree of a file of unknown type)."""
    steps: list[Step] = []
    for tag in field_tags:
        kind = tag.WhichOneof("kind")
        if kind == "field":
            steps.append(Field(tag.field))
        elif kind == "index":
            steps.append(Index(tag.index))
        elif kind == "map_key":
            member = tag.map_key.WhichOneof("type")
            if member is None:
                raise ChunkedProtoError("a map key in the chunk tree is empty")
            steps.append(Key(getattr(tag.map_key, member)))
        else:
            raise ChunkedProtoError("a field tag in the chunk tree is empty")
    path = FieldPath(steps)
    if descriptor is not None:
        _check_map_keys(descriptor, path, field_tags)
    return path


def _map_keys(field_tags: Iterable[chunk_pb2.FieldIndex]) -> list[chunk_pb2.FieldIndex.MapKey]:
    return [tag.map_key for tag in field_tags if tag.WhichOneof("kind") == "map_key"]


def _check_map_keys(descriptor: Descriptor, path: FieldPath, field_tags: Iterable[chunk_pb2.FieldIndex]) -> None:
    """Checks each map key's oneof member and range against its map's key type."""
    keys = iter(_map_keys(field_tags))
    for segment in resolve(descriptor, path):
        if isinstance(segment.subscript, Key):
            _key_value(descriptors.map_key_field(segment.field), next(keys))


def _key_value(key_field: FieldDescriptor, key: chunk_pb2.FieldIndex.MapKey) -> MapKeyValue:
    member = key.WhichOneof("type")
    expected = _KEY_MEMBER.get(key_field.type)
    if member is None or expected is None:
        raise ChunkedProtoError(f"map key {key!r} is empty or the map key type is not supported")
    value: MapKeyValue = getattr(key, member)
    if expected in _INT_RANGES and member in _INT_RANGES:
        low, high = _INT_RANGES[expected]
        if not low <= int(value) <= high:
            raise ChunkedProtoError(f"map key {value} is out of range for {key_field.full_name}")
        return value
    if member != expected:
        raise ChunkedProtoError(f"map key of kind {member!r} does not match key field {key_field.full_name}")
    return value


def to_field_tags(path: Sequence[Step], descriptor: Descriptor) -> list[chunk_pb2.FieldIndex]:
    """The FieldIndex list of a ChunkedField for `path` (relative to `descriptor`)."""
    tags = []
    for segment in resolve(descriptor, path):
        tags.append(chunk_pb2.FieldIndex(field=segment.field.number))
        if isinstance(segment.subscript, Index):
            tags.append(chunk_pb2.FieldIndex(index=segment.subscript.value))
        elif isinstance(segment.subscript, Key):
            key = chunk_pb2.FieldIndex.MapKey()
            setattr(key, _KEY_MEMBER[descriptors.map_key_field(segment.field).type], segment.subscript.value)
            tags.append(chunk_pb2.FieldIndex(map_key=key))
    return tags


# ---- text --------------------------------------------------------------------------------------------------

_SEGMENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*((?:\[[^\]]*\]\s*)*)")
_SUBSCRIPT = re.compile(r"\[\s*([^\]]*?)\s*\]")


def parse(text: str, descriptor: Descriptor) -> FieldPath:
    """Parses a user path such as ``node[3].attr['value'].tensor`` against `descriptor` (FieldPathError)."""
    steps: list[Step] = []
    current: Descriptor | None = descriptor
    for part in _split_segments(text):
        match = _SEGMENT.fullmatch(part)
        if not match:
            raise FieldPathError(f"cannot parse {part!r} in field path {text!r}")
        name, subscripts = match.group(1), _SUBSCRIPT.findall(match.group(2) or "")
        if current is None:
            raise FieldPathError(f"{name!r} in {text!r}: the previous field is not a message")
        field = current.fields_by_name.get(name)
        if field is None:
            raise FieldPathError(f"{current.full_name} has no field {name!r} (path {text!r})")
        if len(subscripts) > 1:
            raise FieldPathError(f"{name!r} in {text!r} takes at most one subscript")
        subscript = _parse_subscript(field, subscripts[0], text) if subscripts else None
        segment = Segment(field, subscript)
        steps.extend(segment.steps())
        current = segment.target
    if not steps:
        raise FieldPathError("empty field path")
    return FieldPath(steps)


def _split_segments(text: str) -> list[str]:
    """Splits a path on dots that are outside brackets and quotes."""
    segments: list[str] = []
    current: list[str] = []
    depth, quote = 0, None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "." and depth == 0:
            segments.append("".join(current))
            current = []
            continue
        current.append(char)
    segments.append("".join(current))
    return segments


def _parse_subscript(field: FieldDescriptor, raw: str, text: str) -> Index | Key:
    if descriptors.is_map(field):
        return Key(_parse_key(descriptors.map_key_field(field), raw, text))
    if not descriptors.is_repeated(field):
        raise FieldPathError(f"{field.name!r} in {text!r} is not a list or map")
    if not raw.isdigit():
        raise FieldPathError(f"list index {raw!r} in {text!r} must be a non-negative integer")
    return Index(int(raw))


def _parse_key(key_field: FieldDescriptor, raw: str, text: str) -> MapKeyValue:
    quoted = len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\""
    if key_field.type == _T.TYPE_STRING:
        if not quoted:
            raise FieldPathError(f"map key {raw!r} in {text!r} must be a quoted string")
        return raw[1:-1]
    if key_field.type == _T.TYPE_BOOL:
        if raw not in ("true", "false", "True", "False"):
            raise FieldPathError(f"map key {raw!r} in {text!r} must be true or false")
        return raw.lower() == "true"
    try:
        value = int(raw, 0)
    except ValueError:
        raise FieldPathError(f"map key {raw!r} in {text!r} must be an integer") from None
    low, high = _INT_RANGES[_KEY_MEMBER[key_field.type]]
    if not low <= value <= high:
        raise FieldPathError(f"map key {value} in {text!r} is out of range for {key_field.full_name}")
    return value


def format_path(path: Sequence[Step], descriptor: Descriptor | None = None) -> str:
    """The path as text, such as ``node[3].attr['value']``: field names where `descriptor` (the type the path
    is relative to) knows them, numbers elsewhere. Never fails, so that damaged trees can be shown."""
    out: list[str] = []
    current = descriptor
    field: FieldDescriptor | None = None
    for step in path:
        if isinstance(step, Field):
            field = descriptors.find_field(current, step.number) if current is not None else None
            name = str(step.number) if field is None else f"({field.full_name})" if field.is_extension else field.name
            out.append(("." if out else "") + name)
            current = field.message_type if field is not None else None
        elif isinstance(step, Index):
            out.append(f"[{step.value}]")
        else:
            out.append(f"[{_format_key(step.value)}]")
            is_map = field is not None and descriptors.is_map(field)
            current = descriptors.map_value_field(field).message_type if field is not None and is_map else None
    return "".join(out)


def _format_key(key: MapKeyValue) -> str:
    """A map key as the path syntax writes it: 'quoted' strings, true/false, integers."""
    if isinstance(key, str):
        return "'" + key.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


# ---- values at a path ----------------------------------------------------------------------------------------


def copy_value(source: Message, target_message: Message, path: Sequence[Step]) -> None:
    """Copies the value at `path` of `source` into `target_message`, creating what leads to it; a missing value is
    skipped (what leads to it, as far as the source has it, is still created). List elements before a requested
    index are left empty, so that indices keep their meaning."""
    segments = resolve(cast(Descriptor, source.DESCRIPTOR), path, FieldPathError)
    depth, found = _deepest(source, segments)
    if depth:
        steps = FieldPath(step for segment in segments[:depth] for step in segment.steps())
        place_value(target_message, steps, found if depth == len(segments) else None)


def _deepest(source: Message, segments: list[Segment]) -> tuple[int, Any]:
    """How many segments of a path `source` has values for, and the value at the last of them."""
    current: Any = source
    for position, segment in enumerate(segments):
        field, subscript = segment.field, segment.subscript
        if subscript is None:
            if not descriptors.has_value(current, field):
                return position, None
            if descriptors.is_repeated(field) or field.message_type is None:
                if position != len(segments) - 1:
                    raise FieldPathError(f"{field.full_name} needs a subscript to continue the path")
                return position + 1, descriptors.container(current, field)
            current = descriptors.container(current, field)
            continue
        found = _item(descriptors.container(current, field), subscript)
        if found is None:
            return position, None
        current = found
    return len(segments), current


def place_value(target_message: Message, path: Sequence[Step], value: Any) -> None:
    """Sets `value` at `path` of `target_message`, creating what leads to it (list elements before an index
    stay empty); a list or map value (a container, list or dict) is merged into the field's. With value None,
    only what leads to the path is created, and the message at its end (an empty one)."""
    segments = resolve(cast(Descriptor, target_message.DESCRIPTOR), path, FieldPathError)
    target: Any = target_message
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        field, subscript = segment.field, segment.subscript
        if subscript is None:
            if descriptors.is_repeated(field) or field.message_type is None:
                if not last:
                    raise FieldPathError(f"{field.full_name} needs a subscript to continue the path")
                if value is not None and descriptors.is_repeated(field):
                    _merge_items(descriptors.container(target, field), value)
                elif value is not None:
                    descriptors.set_scalar(target, field, value)
                return
            target = descriptors.container(target, field)
            target.SetInParent()
            if last and value is not None:
                target.CopyFrom(value)
            continue
        items = descriptors.container(target, field)
        if segment.target is None:  # a scalar element or map value: the end of the path (resolve checked)
            if value is not None:
                _set_item(field, items, subscript, value)
            return
        target = _message_item(items, subscript)
        if last and value is not None:
            target.CopyFrom(value)


def _merge_items(items: Any, value: Any) -> None:
    """Merges a list (or repeated container) or a dict (or map) into a repeated or map field's container."""
    if not hasattr(value, "items"):
        items.extend(value)
        return
    for key, item in value.items():
        if isinstance(item, Message):
            items[key].CopyFrom(item)
        else:
            items[key] = item


def _item(items: Any, subscript: Index | Key) -> Any:
    """The element or map value at `subscript`, or None when there is none."""
    if isinstance(subscript, Key):
        return items.get(subscript.value)
    return items[subscript.value] if subscript.value < len(items) else None


def _message_item(items: Any, subscript: Index | Key) -> Message:
    """The message element or map value at `subscript` of a target container, created (with empty elements
    before it) when missing."""
    if not isinstance(subscript, Key):
        while len(items) <= subscript.value:
            items.add()
    return cast(Message, items[subscript.value])


def _set_item(field: FieldDescriptor, items: Any, subscript: Index | Key, value: Any) -> None:
    if isinstance(subscript, Key):
        items[subscript.value] = value
        return
    while len(items) <= subscript.value:
        items.append(_element_default(field))
    items[subscript.value] = value


def _element_default(field: FieldDescriptor) -> Any:
    """The default value of one element of a repeated scalar field (its `default_value` is the empty list)."""
    if field.type == _T.TYPE_BYTES:
        return b""
    if field.type == _T.TYPE_STRING:
        return ""
    if field.type == _T.TYPE_BOOL:
        return False
    if field.type in (_T.TYPE_FLOAT, _T.TYPE_DOUBLE):
        return 0.0
    if field.type == _T.TYPE_ENUM and field.enum_type is not None:
        return field.enum_type.values[0].number
    return 0
