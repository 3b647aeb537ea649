"""Small questions about protobuf descriptors and values that the splitter, the merger and field paths share:
what kind a field is, how to find one by number (extensions included), and how to reach or copy its value."""

from __future__ import annotations

from typing import Any, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_T = FieldDescriptor
MESSAGE_TYPES = (_T.TYPE_MESSAGE, _T.TYPE_GROUP)
BYTES_TYPES = (_T.TYPE_BYTES, _T.TYPE_STRING)


def descriptor_of(message: Message | type[Message]) -> Descriptor:
    """The Descriptor of a message or message class (the stubs type DESCRIPTOR as a union with upb's own)."""
    return cast(Descriptor, message.DESCRIPTOR)


def is_map(field: FieldDescriptor) -> bool:
    """True for map fields (repeated map-entry messages)."""
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def is_repeated(field: FieldDescriptor) -> bool:
    """True for repeated fields, maps included."""
    return bool(field.is_repeated)


def map_value_field(field: FieldDescriptor) -> FieldDescriptor:
    """The `value` field of a map field's entry type."""
    return _entry(field).fields_by_number[2]


def map_key_field(field: FieldDescriptor) -> FieldDescriptor:
    """The `key` field of a map field's entry type."""
    return _entry(field).fields_by_number[1]


def _entry(field: FieldDescriptor) -> Descriptor:
    if field.message_type is None:
        raise TypeError(f"{field.full_name} is not a map field")
    return field.message_type


def extensions_of(message: Message) -> Any:
    """`message.Extensions`, indexable by any extension FieldDescriptor (the stubs only take typed handles)."""
    return message.Extensions


def find_field(descriptor: Descriptor, number: int) -> FieldDescriptor | None:
    """The field or known extension of `descriptor` with this number, or None."""
    field = descriptor.fields_by_number.get(number)
    if field is None and descriptor.is_extendable and _in_extension_range(descriptor, number):
        field = descriptor.file.pool.FindExtensionByNumber(descriptor, number)
    return field


def _in_extension_range(descriptor: Descriptor, number: int) -> bool:
    return any(low <= number < high for low, high in descriptor.extension_ranges)


def container(message: Message, field: FieldDescriptor) -> Any:
    """The value or container of `field` (a regular field or an extension) in `message`."""
    return extensions_of(message)[field] if field.is_extension else getattr(message, field.name)


def has_value(message: Message, field: FieldDescriptor) -> bool:
    """Whether `field` is set in `message` (non-empty for lists and maps, non-default without presence)."""
    if is_repeated(field):
        return len(container(message, field)) > 0
    if field.has_presence:
        return bool(cast(Any, message).HasExtension(field) if field.is_extension else message.HasField(field.name))
    return bool(container(message, field) != field.default_value)


def set_scalar(message: Message, field: FieldDescriptor, value: Any) -> None:
    """Sets a singular non-message field (a regular field or an extension)."""
    if field.is_extension:
        extensions_of(message)[field] = value
    else:
        setattr(message, field.name, value)


def copy_field(target: Message, field: FieldDescriptor, value: Any) -> None:
    """Copies one field's value, as ListFields() returns it, into target (extensions, maps, lists, messages)."""
    if field.is_extension:
        if is_repeated(field):
            extensions_of(target)[field].extend(value)
        elif field.message_type is not None:
            extensions_of(target)[field].CopyFrom(value)
        else:
            extensions_of(target)[field] = value
    elif is_map(field) or (field.message_type is not None and not is_repeated(field)):
        getattr(target, field.name).MergeFrom(value)
    elif is_repeated(field):
        getattr(target, field.name).extend(value)
    else:
        setattr(target, field.name, value)
