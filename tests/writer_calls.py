"""Replaying a message as ps.Writer calls: every way of writing the same content (set whole or field by field,
append or extend, bytes values moved out to buffers, fields interleaved in any order), chosen by a hypothesis
`draw`, so that the file can be compared with the message the calls describe."""

from __future__ import annotations

import numpy as np
from google.protobuf import unknown_fields
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import strategies as st

import proto_splitter as ps
from proto_splitter import descriptors, field_paths
from proto_splitter.field_paths import Field, FieldPath, Key
from proto_splitter.splitter import _addressable_key

_T = FieldDescriptor


def replay(writer, message, draw) -> None:
    """Writes `message` with `writer` through calls chosen by `draw` (st.data().draw)."""
    queues = [calls for calls in _field_calls(message, FieldPath(), draw) if calls]
    while queues:  # the fields' calls interleaved at random, each field's in its order
        position = draw(st.integers(0, len(queues) - 1))
        queues[position].pop(0)(writer)
        if not queues[position]:
            queues.pop(position)


def writable(message) -> bool:
    """Whether calls can describe the message: the root holds no unknown fields (values written whole may)."""
    return not len(unknown_fields.UnknownFieldSet(message))


def _field_calls(message, scope: FieldPath, draw) -> list[list]:
    """Per field of `message` (at `scope`), the calls writing it, in order."""
    result = []
    for field, value in message.ListFields():
        path = FieldPath((*scope, Field(field.number)))
        if descriptors.is_map(field):
            result.append([_put(path, field, key, value[key], draw) for key in sorted(value)])
        elif descriptors.is_repeated(field):
            result.append(_list_calls(path, field, list(value), draw))
        elif field.message_type is not None:
            inside = not field.is_extension and writable(value) and value.ListFields() and draw(st.booleans())
            if inside:  # written into field by field: its own fields' calls join the queues
                result.extend(_field_calls(value, path, draw))
            else:
                result.append([_set_message(path, field, value, draw)])
        else:
            result.append([lambda writer, p=path, v=value: writer.set(p, v)])
    return result


def _list_calls(path: FieldPath, field: FieldDescriptor, elements: list, draw) -> list:
    calls, position = [], 0
    while position < len(elements):
        count = draw(st.integers(1, len(elements) - position))
        run = elements[position : position + count]
        position += count
        if count > 1 and draw(st.booleans()):
            calls.append(lambda writer, p=path, r=run: writer.extend(p, iter(r)))
            continue
        for element in run:
            if field.message_type is not None and not field.is_extension:
                element, buffers = _move_to_buffers(element, draw)
                calls.append(lambda writer, p=path, e=element, b=buffers: writer.append(p, e, buffers=b))
            else:
                calls.append(lambda writer, p=path, e=element: writer.append(p, e))
    return calls


def _set_message(path: FieldPath, field: FieldDescriptor, value, draw):
    whole = field.is_extension or field.type == _T.TYPE_GROUP  # written whole: no buffers below
    value, buffers = _move_to_buffers(value, draw) if not whole else (value, None)
    return lambda writer: writer.set(path, value, buffers=buffers)


def _put(path: FieldPath, field: FieldDescriptor, key, value, draw):
    if descriptors.map_value_field(field).message_type is None:
        return lambda writer: writer.put(path, key, value)
    key_ok = not field.is_extension and _addressable_key(descriptors.map_key_field(field), key)
    value, buffers = _move_to_buffers(value, draw) if key_ok else (value, None)
    return lambda writer: writer.put(path, key, value, buffers=buffers)


def _move_to_buffers(message, draw):
    """A copy of `message` with some bytes values moved out, and those values as buffers (numpy or bytes)."""
    leaves = [steps for steps in _bytes_leaves(message, FieldPath(), 0) if draw(st.integers(0, 2)) == 0]
    if not leaves or not writable(message):
        return message, None
    copy = type(message)()
    copy.CopyFrom(message)
    buffers = {}
    for steps in leaves:
        holder = copy
        *way, last = field_paths.resolve(message.DESCRIPTOR, steps)
        for segment in way:
            container = descriptors.container(holder, segment.field)
            holder = container[segment.subscript.value] if isinstance(segment.subscript, Key) else container
        data = getattr(holder, last.field.name)
        holder.ClearField(last.field.name)
        text = _as_text(steps, message.DESCRIPTOR) if draw(st.booleans()) else None
        buffers[text or steps] = np.frombuffer(data, np.uint8) if data else data
    return copy, buffers


def _as_text(steps: FieldPath, descriptor):
    """The path as text when the text syntax can say it (a key may hold characters it cannot), else None."""
    text = field_paths.format_path(steps, descriptor)
    try:
        return text if field_paths.parse(text, descriptor) == steps else None
    except ps.FieldPathError:
        return None


def _bytes_leaves(message, prefix: FieldPath, depth: int):
    """Paths below `message` of set, singular bytes fields reachable through singular message fields and message
    map values with keys TensorFlow's Merger finds (where a Writer takes buffers)."""
    if depth > 3 or not writable(message):
        return
    for field, value in message.ListFields():
        if field.is_extension:
            continue
        path = FieldPath((*prefix, Field(field.number)))
        if field.type == _T.TYPE_BYTES and not descriptors.is_repeated(field):
            yield path
        elif descriptors.is_map(field) and descriptors.map_value_field(field).message_type is not None:
            key_field = descriptors.map_key_field(field)
            for key in sorted(value):
                if _addressable_key(key_field, key):
                    yield from _bytes_leaves(value[key], FieldPath((*path, Key(key))), depth + 1)
        elif field.type == _T.TYPE_MESSAGE and not descriptors.is_repeated(field):
            yield from _bytes_leaves(value, path, depth + 1)
