"""Field paths: the FieldIndex lists of ChunkMetadata, user path strings like ``node[3].attr['value']``,
and the map-key conversions between them.

A path is normalized to a tuple of steps, each ``(FIELD, number)``, ``(INDEX, i)`` or ``(KEY, value)``,
so paths from metadata and from users compare and hash alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from .errors import ChunkedProtoError, FieldPathError
from .proto import chunk_pb2

FIELD, INDEX, KEY = "field", "index", "key"
Step = tuple
Path = tuple
MapKeyValue = str | bool | int

_T = FieldDescriptor
# MapKey oneof member used for each map key type (TensorFlow's choice where it has one; sint/fixed
# widths, which TensorFlow leaves unimplemented, use the member of the same signedness and width).
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


def is_map(field: FieldDescriptor) -> bool:
    """True for map fields (repeated map-entry messages)."""
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def is_repeated(field: FieldDescriptor) -> bool:
    """True for repeated fields, maps included."""
    return field.is_repeated


def find_field(descriptor: Descriptor, number: int) -> FieldDescriptor | None:
    """The field or known extension of `descriptor` with this number, or None."""
    field = descriptor.fields_by_number.get(number)
    if field is None and descriptor.is_extendable:
        field = (
            descriptor.file.pool.FindExtensionByNumber(descriptor, number)
            if _has_extension_range(descriptor, number)
            else None
        )
    return field


def _has_extension_range(descriptor: Descriptor, number: int) -> bool:
    return any(low <= number < high for low, high in descriptor.extension_ranges)


def map_key_proto(key_field: FieldDescriptor, key: MapKeyValue) -> chunk_pb2.FieldIndex.MapKey:
    """Encodes a map key as a FieldIndex.MapKey according to the map's key type."""
    member = _KEY_MEMBER[key_field.type]
    return chunk_pb2.FieldIndex.MapKey(**{member: key})


def map_key_value(key_field: FieldDescriptor, key: chunk_pb2.FieldIndex.MapKey) -> MapKeyValue:
    """Decodes a FieldIndex.MapKey for a map whose key field is key_field, checking type and range."""
    member = key.WhichOneof("type")
    expected = _KEY_MEMBER.get(key_field.type)
    if member is None or expected is None:
        raise ChunkedProtoError(f"map key {key!r} is empty or the map key type is not supported")
    value = getattr(key, member)
    if expected in _INT_RANGES and member in _INT_RANGES:
        low, high = _INT_RANGES[expected]
        if not low <= value <= high:
            raise ChunkedProtoError(f"map key {value} is out of range for {key_field.full_name}")
        return value
    if member != expected:
        raise ChunkedProtoError(f"map key of kind {member!r} does not match key field {key_field.full_name}")
    return value


def normalize(field_tags: Sequence[chunk_pb2.FieldIndex], descriptor: Descriptor) -> Path:
    """Turns the FieldIndex list of a ChunkedField (relative to `descriptor`) into a path of steps.

    Follows TensorFlow's grouping: a field number may be followed by one list index or one map key."""
    steps: list[Step] = []
    current: Descriptor | None = descriptor
    tags = list(field_tags)
    i = 0
    while i < len(tags):
        tag = tags[i]
        if tag.WhichOneof("kind") != "field":
            raise ChunkedProtoError(f"field tag {i} ({_describe(tag)}) does not follow a field number")
        if current is None:
            raise ChunkedProtoError(f"field tag {i} (field {tag.field}) descends into a non-message field")
        field = find_field(current, tag.field)
        if field is None:
            raise ChunkedProtoError(f"field number {tag.field} is not a field of {current.full_name}")
        steps.append((FIELD, tag.field))
        current = field.message_type
        i += 1
        if i < len(tags) and tags[i].WhichOneof("kind") in ("index", "map_key"):
            sub = tags[i]
            if sub.WhichOneof("kind") == "index":
                if not is_repeated(field) or is_map(field):
                    raise ChunkedProtoError(f"list index on non-list field {field.full_name}")
                steps.append((INDEX, sub.index))
            else:
                if not is_map(field):
                    raise ChunkedProtoError(f"map key on non-map field {field.full_name}")
                key_field = field.message_type.fields_by_number[1]
                steps.append((KEY, map_key_value(key_field, sub.map_key)))
                current = field.message_type.fields_by_number[2].message_type
            i += 1
    return tuple(steps)


def _describe(tag: chunk_pb2.FieldIndex) -> str:
    kind = tag.WhichOneof("kind")
    return f"{kind}={getattr(tag, kind)!r}".replace("\n", " ") if kind else "empty"


def to_field_tags(path: Path, descriptor: Descriptor) -> list[chunk_pb2.FieldIndex]:
    """Turns a path of steps (relative to `descriptor`) into the FieldIndex list of a ChunkedField."""
    tags = []
    current: Descriptor | None = descriptor
    field: FieldDescriptor | None = None
    for kind, value in path:
        if kind == FIELD:
            field = find_field(current, value)
            tags.append(chunk_pb2.FieldIndex(field=value))
            current = field.message_type
        elif kind == INDEX:
            tags.append(chunk_pb2.FieldIndex(index=value))
        else:
            key_field = field.message_type.fields_by_number[1]
            tags.append(chunk_pb2.FieldIndex(map_key=map_key_proto(key_field, value)))
            current = field.message_type.fields_by_number[2].message_type
    return tags


_SEGMENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*((?:\[[^\]]*\]\s*)*)")
_SUBSCRIPT = re.compile(r"\[\s*([^\]]*?)\s*\]")


def parse(text: str, descriptor: Descriptor) -> Path:
    """Parses a user path such as ``node[3].attr['value'].tensor`` against `descriptor` into steps."""
    steps: list[Step] = []
    current: Descriptor | None = descriptor
    for segment in _split_segments(text):
        match = _SEGMENT.fullmatch(segment)
        if not match:
            raise FieldPathError(f"cannot parse {segment!r} in field path {text!r}")
        name, subscripts = match.group(1), _SUBSCRIPT.findall(match.group(2) or "")
        if current is None:
            raise FieldPathError(f"{name!r} in {text!r}: the previous field is not a message")
        field = current.fields_by_name.get(name)
        if field is None:
            raise FieldPathError(f"{current.full_name} has no field {name!r} (path {text!r})")
        steps.append((FIELD, field.number))
        current = field.message_type
        if len(subscripts) > 1:
            raise FieldPathError(f"{name!r} in {text!r} takes at most one subscript")
        if subscripts:
            steps.append(_subscript_step(field, subscripts[0], text))
            if is_map(field):
                current = field.message_type.fields_by_number[2].message_type
    if not steps:
        raise FieldPathError("empty field path")
    return tuple(steps)


def _split_segments(text: str) -> list[str]:
    """Splits a path on dots that are outside brackets and quotes."""
    segments, current, depth, quote = [], [], 0, None
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


def _subscript_step(field: FieldDescriptor, raw: str, text: str) -> Step:
    if is_map(field):
        key_field = field.message_type.fields_by_number[1]
        return (KEY, _parse_key(key_field, raw, text))
    if not is_repeated(field):
        raise FieldPathError(f"{field.name!r} in {text!r} is not a list or map")
    if not raw.isdigit():
        raise FieldPathError(f"list index {raw!r} in {text!r} must be a non-negative integer")
    return (INDEX, int(raw))


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


def format_path(path: Path, descriptor: Descriptor) -> str:
    """Renders a path of steps as a readable string such as ``node[3].attr['value']``."""
    out, current, field = [], descriptor, None
    for kind, value in path:
        if kind == FIELD:
            field = find_field(current, value) if current is not None else None
            name = field.name if field is not None else str(value)
            out.append(("." if out else "") + name)
            current = field.message_type if field is not None else None
        elif kind == INDEX:
            out.append(f"[{value}]")
        else:
            out.append(f"[{value!r}]")
            if field is not None:
                current = field.message_type.fields_by_number[2].message_type
    return "".join(out)


def container(message, field: FieldDescriptor):
    """The value or container of `field` (a regular field or an extension) in `message`."""
    return message.Extensions[field] if field.is_extension else getattr(message, field.name)


def _has(message, field: FieldDescriptor) -> bool:
    if is_repeated(field):
        return len(container(message, field)) > 0
    if field.has_presence:
        return message.HasExtension(field) if field.is_extension else message.HasField(field.name)
    return container(message, field) != field.default_value


def _set_scalar(message, field: FieldDescriptor, value) -> None:
    if field.is_extension:
        message.Extensions[field] = value
    else:
        setattr(message, field.name, value)


def copy_field(target, field: FieldDescriptor, value) -> None:
    """Copies one field's value, as ListFields() returns it, into target (extensions, maps, lists, messages)."""
    if field.is_extension:
        if is_repeated(field):
            target.Extensions[field].extend(value)
        elif field.message_type is not None:
            target.Extensions[field].CopyFrom(value)
        else:
            target.Extensions[field] = value
    elif is_map(field) or (field.message_type is not None and not is_repeated(field)):
        getattr(target, field.name).MergeFrom(value)
    elif is_repeated(field):
        getattr(target, field.name).extend(value)
    else:
        setattr(target, field.name, value)


def copy_path(source, target, path: Path) -> None:
    """Copies the value at `path` of source into target, creating what leads to it; a missing value is skipped.

    List elements before a requested index are left empty in target, so indices keep their meaning."""
    position = 0
    while position < len(path):
        field = find_field(source.DESCRIPTOR, path[position][1])
        position += 1
        subscript = path[position] if position < len(path) and path[position][0] != FIELD else None
        position += subscript is not None
        last = position == len(path)
        if subscript is None:
            if not _has(source, field):
                return
            if is_repeated(field) or field.message_type is None:
                if not last:
                    raise FieldPathError(f"{field.full_name} needs a subscript to continue the path")
                if is_repeated(field):
                    container(target, field).MergeFrom(container(source, field))
                else:
                    _set_scalar(target, field, container(source, field))
                return
            source, target = container(source, field), container(target, field)
            target.SetInParent()
            if last:
                target.CopyFrom(source)
                return
            continue
        source_items, target_items = container(source, field), container(target, field)
        key = subscript[1]
        if subscript[0] == KEY:
            if key not in source_items:
                return
            value_is_message = field.message_type.fields_by_number[2].message_type is not None
            if last:
                if value_is_message:
                    target_items[key].CopyFrom(source_items[key])
                else:
                    target_items[key] = source_items[key]
                return
            source, target = source_items[key], target_items[key]
            continue
        if key >= len(source_items):
            return
        if field.message_type is None:
            if not last:
                raise FieldPathError(f"{field.full_name}[{key}] is not a message")
            default = field.default_value if not isinstance(field.default_value, list) else 0
            while len(target_items) <= key:
                target_items.append(default)
            target_items[key] = source_items[key]
            return
        while len(target_items) <= key:
            target_items.add()
        source, target = source_items[key], target_items[key]
        if last:
            target.CopyFrom(source)
            return


def target_descriptor(descriptor: Descriptor, path: Path) -> Descriptor | None:
    """The message type at the end of `path` (a map path with a key gives the value type); None for a
    non-message value."""
    field: FieldDescriptor | None = None
    current: Descriptor | None = descriptor
    for kind, value in path:
        if kind == FIELD:
            field = find_field(current, value)
            current = field.message_type
        elif kind == KEY:
            current = field.message_type.fields_by_number[2].message_type
    return current
