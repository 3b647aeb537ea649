from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf.internal import python_message as _python_message
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Color(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLOR_UNSPECIFIED: _ClassVar[Color]
    RED: _ClassVar[Color]
    GREEN: _ClassVar[Color]
COLOR_UNSPECIFIED: Color
RED: Color
GREEN: Color
EXT_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
ext_payload: _descriptor.FieldDescriptor
EXT_NODES_FIELD_NUMBER: _ClassVar[int]
ext_nodes: _descriptor.FieldDescriptor
EXT_NODE_FIELD_NUMBER: _ClassVar[int]
ext_node: _descriptor.FieldDescriptor
EXT_BLOBS_FIELD_NUMBER: _ClassVar[int]
ext_blobs: _descriptor.FieldDescriptor
EXT_NUMBER_FIELD_NUMBER: _ClassVar[int]
ext_number: _descriptor.FieldDescriptor

class Scalars(_message.Message):
    __slots__ = ("f_double", "f_float", "f_int32", "f_int64", "f_uint32", "f_uint64", "f_sint32", "f_sint64", "f_fixed32", "f_fixed64", "f_sfixed32", "f_sfixed64", "f_bool", "f_string", "f_bytes", "f_enum")
    F_DOUBLE_FIELD_NUMBER: _ClassVar[int]
    F_FLOAT_FIELD_NUMBER: _ClassVar[int]
    F_INT32_FIELD_NUMBER: _ClassVar[int]
    F_INT64_FIELD_NUMBER: _ClassVar[int]
    F_UINT32_FIELD_NUMBER: _ClassVar[int]
    F_UINT64_FIELD_NUMBER: _ClassVar[int]
    F_SINT32_FIELD_NUMBER: _ClassVar[int]
    F_SINT64_FIELD_NUMBER: _ClassVar[int]
    F_FIXED32_FIELD_NUMBER: _ClassVar[int]
    F_FIXED64_FIELD_NUMBER: _ClassVar[int]
    F_SFIXED32_FIELD_NUMBER: _ClassVar[int]
    F_SFIXED64_FIELD_NUMBER: _ClassVar[int]
    F_BOOL_FIELD_NUMBER: _ClassVar[int]
    F_STRING_FIELD_NUMBER: _ClassVar[int]
    F_BYTES_FIELD_NUMBER: _ClassVar[int]
    F_ENUM_FIELD_NUMBER: _ClassVar[int]
    f_double: float
    f_float: float
    f_int32: int
    f_int64: int
    f_uint32: int
    f_uint64: int
    f_sint32: int
    f_sint64: int
    f_fixed32: int
    f_fixed64: int
    f_sfixed32: int
    f_sfixed64: int
    f_bool: bool
    f_string: str
    f_bytes: bytes
    f_enum: Color
    def __init__(self, f_double: _Optional[float] = ..., f_float: _Optional[float] = ..., f_int32: _Optional[int] = ..., f_int64: _Optional[int] = ..., f_uint32: _Optional[int] = ..., f_uint64: _Optional[int] = ..., f_sint32: _Optional[int] = ..., f_sint64: _Optional[int] = ..., f_fixed32: _Optional[int] = ..., f_fixed64: _Optional[int] = ..., f_sfixed32: _Optional[int] = ..., f_sfixed64: _Optional[int] = ..., f_bool: _Optional[bool] = ..., f_string: _Optional[str] = ..., f_bytes: _Optional[bytes] = ..., f_enum: _Optional[_Union[Color, str]] = ...) -> None: ...

class Repeateds(_message.Message):
    __slots__ = ("r_double", "r_float", "r_int32", "r_int64", "r_uint32", "r_uint64", "r_sint32", "r_sint64", "r_fixed32", "r_fixed64", "r_sfixed32", "r_sfixed64", "r_bool", "r_string", "r_bytes", "r_enum", "r_message")
    R_DOUBLE_FIELD_NUMBER: _ClassVar[int]
    R_FLOAT_FIELD_NUMBER: _ClassVar[int]
    R_INT32_FIELD_NUMBER: _ClassVar[int]
    R_INT64_FIELD_NUMBER: _ClassVar[int]
    R_UINT32_FIELD_NUMBER: _ClassVar[int]
    R_UINT64_FIELD_NUMBER: _ClassVar[int]
    R_SINT32_FIELD_NUMBER: _ClassVar[int]
    R_SINT64_FIELD_NUMBER: _ClassVar[int]
    R_FIXED32_FIELD_NUMBER: _ClassVar[int]
    R_FIXED64_FIELD_NUMBER: _ClassVar[int]
    R_SFIXED32_FIELD_NUMBER: _ClassVar[int]
    R_SFIXED64_FIELD_NUMBER: _ClassVar[int]
    R_BOOL_FIELD_NUMBER: _ClassVar[int]
    R_STRING_FIELD_NUMBER: _ClassVar[int]
    R_BYTES_FIELD_NUMBER: _ClassVar[int]
    R_ENUM_FIELD_NUMBER: _ClassVar[int]
    R_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    r_double: _containers.RepeatedScalarFieldContainer[float]
    r_float: _containers.RepeatedScalarFieldContainer[float]
    r_int32: _containers.RepeatedScalarFieldContainer[int]
    r_int64: _containers.RepeatedScalarFieldContainer[int]
    r_uint32: _containers.RepeatedScalarFieldContainer[int]
    r_uint64: _containers.RepeatedScalarFieldContainer[int]
    r_sint32: _containers.RepeatedScalarFieldContainer[int]
    r_sint64: _containers.RepeatedScalarFieldContainer[int]
    r_fixed32: _containers.RepeatedScalarFieldContainer[int]
    r_fixed64: _containers.RepeatedScalarFieldContainer[int]
    r_sfixed32: _containers.RepeatedScalarFieldContainer[int]
    r_sfixed64: _containers.RepeatedScalarFieldContainer[int]
    r_bool: _containers.RepeatedScalarFieldContainer[bool]
    r_string: _containers.RepeatedScalarFieldContainer[str]
    r_bytes: _containers.RepeatedScalarFieldContainer[bytes]
    r_enum: _containers.RepeatedScalarFieldContainer[Color]
    r_message: _containers.RepeatedCompositeFieldContainer[Scalars]
    def __init__(self, r_double: _Optional[_Iterable[float]] = ..., r_float: _Optional[_Iterable[float]] = ..., r_int32: _Optional[_Iterable[int]] = ..., r_int64: _Optional[_Iterable[int]] = ..., r_uint32: _Optional[_Iterable[int]] = ..., r_uint64: _Optional[_Iterable[int]] = ..., r_sint32: _Optional[_Iterable[int]] = ..., r_sint64: _Optional[_Iterable[int]] = ..., r_fixed32: _Optional[_Iterable[int]] = ..., r_fixed64: _Optional[_Iterable[int]] = ..., r_sfixed32: _Optional[_Iterable[int]] = ..., r_sfixed64: _Optional[_Iterable[int]] = ..., r_bool: _Optional[_Iterable[bool]] = ..., r_string: _Optional[_Iterable[str]] = ..., r_bytes: _Optional[_Iterable[bytes]] = ..., r_enum: _Optional[_Iterable[_Union[Color, str]]] = ..., r_message: _Optional[_Iterable[_Union[Scalars, _Mapping]]] = ...) -> None: ...

class Maps(_message.Message):
    __slots__ = ("string_to_bytes", "bool_to_node", "int32_to_node", "int64_to_node", "uint32_to_node", "uint64_to_node", "sint32_to_node", "sint64_to_node", "fixed32_to_node", "fixed64_to_node", "sfixed32_to_node", "sfixed64_to_node", "string_to_node", "int64_to_string", "uint32_to_double", "string_to_enum")
    class StringToBytesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    class BoolToNodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: bool
        value: Node
        def __init__(self, key: _Optional[bool] = ..., value: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...
    class Int32ToNodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: Node
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...
    class Int64ToNodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: Node
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...
    class Uint32ToNodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: Node
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...
    class Uint64ToNodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: Node
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...
    class Sint32ToNodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: Node
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...
    class Sint64ToNodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: Node
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...
    class Fixed32ToNodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: Node
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...
    class Fixed64ToNodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: Node
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...
    class Sfixed32ToNodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: Node
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...
    class Sfixed64ToNodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: Node
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...
    class StringToNodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Node
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...
    class Int64ToStringEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: str
        def __init__(self, key: _Optional[int] = ..., value: _Optional[str] = ...) -> None: ...
    class Uint32ToDoubleEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: float
        def __init__(self, key: _Optional[int] = ..., value: _Optional[float] = ...) -> None: ...
    class StringToEnumEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Color
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Color, str]] = ...) -> None: ...
    STRING_TO_BYTES_FIELD_NUMBER: _ClassVar[int]
    BOOL_TO_NODE_FIELD_NUMBER: _ClassVar[int]
    INT32_TO_NODE_FIELD_NUMBER: _ClassVar[int]
    INT64_TO_NODE_FIELD_NUMBER: _ClassVar[int]
    UINT32_TO_NODE_FIELD_NUMBER: _ClassVar[int]
    UINT64_TO_NODE_FIELD_NUMBER: _ClassVar[int]
    SINT32_TO_NODE_FIELD_NUMBER: _ClassVar[int]
    SINT64_TO_NODE_FIELD_NUMBER: _ClassVar[int]
    FIXED32_TO_NODE_FIELD_NUMBER: _ClassVar[int]
    FIXED64_TO_NODE_FIELD_NUMBER: _ClassVar[int]
    SFIXED32_TO_NODE_FIELD_NUMBER: _ClassVar[int]
    SFIXED64_TO_NODE_FIELD_NUMBER: _ClassVar[int]
    STRING_TO_NODE_FIELD_NUMBER: _ClassVar[int]
    INT64_TO_STRING_FIELD_NUMBER: _ClassVar[int]
    UINT32_TO_DOUBLE_FIELD_NUMBER: _ClassVar[int]
    STRING_TO_ENUM_FIELD_NUMBER: _ClassVar[int]
    string_to_bytes: _containers.ScalarMap[str, bytes]
    bool_to_node: _containers.MessageMap[bool, Node]
    int32_to_node: _containers.MessageMap[int, Node]
    int64_to_node: _containers.MessageMap[int, Node]
    uint32_to_node: _containers.MessageMap[int, Node]
    uint64_to_node: _containers.MessageMap[int, Node]
    sint32_to_node: _containers.MessageMap[int, Node]
    sint64_to_node: _containers.MessageMap[int, Node]
    fixed32_to_node: _containers.MessageMap[int, Node]
    fixed64_to_node: _containers.MessageMap[int, Node]
    sfixed32_to_node: _containers.MessageMap[int, Node]
    sfixed64_to_node: _containers.MessageMap[int, Node]
    string_to_node: _containers.MessageMap[str, Node]
    int64_to_string: _containers.ScalarMap[int, str]
    uint32_to_double: _containers.ScalarMap[int, float]
    string_to_enum: _containers.ScalarMap[str, Color]
    def __init__(self, string_to_bytes: _Optional[_Mapping[str, bytes]] = ..., bool_to_node: _Optional[_Mapping[bool, Node]] = ..., int32_to_node: _Optional[_Mapping[int, Node]] = ..., int64_to_node: _Optional[_Mapping[int, Node]] = ..., uint32_to_node: _Optional[_Mapping[int, Node]] = ..., uint64_to_node: _Optional[_Mapping[int, Node]] = ..., sint32_to_node: _Optional[_Mapping[int, Node]] = ..., sint64_to_node: _Optional[_Mapping[int, Node]] = ..., fixed32_to_node: _Optional[_Mapping[int, Node]] = ..., fixed64_to_node: _Optional[_Mapping[int, Node]] = ..., sfixed32_to_node: _Optional[_Mapping[int, Node]] = ..., sfixed64_to_node: _Optional[_Mapping[int, Node]] = ..., string_to_node: _Optional[_Mapping[str, Node]] = ..., int64_to_string: _Optional[_Mapping[int, str]] = ..., uint32_to_double: _Optional[_Mapping[int, float]] = ..., string_to_enum: _Optional[_Mapping[str, Color]] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("name", "payload", "children", "child", "named", "values", "text", "blob", "sub", "number")
    Extensions: _python_message._ExtensionDict
    class NamedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Node
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    CHILD_FIELD_NUMBER: _ClassVar[int]
    NAMED_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    BLOB_FIELD_NUMBER: _ClassVar[int]
    SUB_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    name: str
    payload: bytes
    children: _containers.RepeatedCompositeFieldContainer[Node]
    child: Node
    named: _containers.MessageMap[str, Node]
    values: _containers.RepeatedScalarFieldContainer[float]
    text: str
    blob: bytes
    sub: Node
    number: int
    def __init__(self, name: _Optional[str] = ..., payload: _Optional[bytes] = ..., children: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., child: _Optional[_Union[Node, _Mapping]] = ..., named: _Optional[_Mapping[str, Node]] = ..., values: _Optional[_Iterable[float]] = ..., text: _Optional[str] = ..., blob: _Optional[bytes] = ..., sub: _Optional[_Union[Node, _Mapping]] = ..., number: _Optional[int] = ...) -> None: ...

class Everything(_message.Message):
    __slots__ = ("scalars", "repeateds", "maps", "root", "nodes", "item", "single", "picked_node", "picked_bytes", "picked_string")
    Extensions: _python_message._ExtensionDict
    class Item(_message.Message):
        __slots__ = ("id", "data")
        ID_FIELD_NUMBER: _ClassVar[int]
        DATA_FIELD_NUMBER: _ClassVar[int]
        id: int
        data: bytes
        def __init__(self, id: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...
    class Single(_message.Message):
        __slots__ = ("label",)
        LABEL_FIELD_NUMBER: _ClassVar[int]
        label: str
        def __init__(self, label: _Optional[str] = ...) -> None: ...
    SCALARS_FIELD_NUMBER: _ClassVar[int]
    REPEATEDS_FIELD_NUMBER: _ClassVar[int]
    MAPS_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    SINGLE_FIELD_NUMBER: _ClassVar[int]
    PICKED_NODE_FIELD_NUMBER: _ClassVar[int]
    PICKED_BYTES_FIELD_NUMBER: _ClassVar[int]
    PICKED_STRING_FIELD_NUMBER: _ClassVar[int]
    scalars: Scalars
    repeateds: Repeateds
    maps: Maps
    root: Node
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    item: _containers.RepeatedCompositeFieldContainer[Everything.Item]
    single: Everything.Single
    picked_node: Node
    picked_bytes: bytes
    picked_string: str
    def __init__(self, scalars: _Optional[_Union[Scalars, _Mapping]] = ..., repeateds: _Optional[_Union[Repeateds, _Mapping]] = ..., maps: _Optional[_Union[Maps, _Mapping]] = ..., root: _Optional[_Union[Node, _Mapping]] = ..., nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., item: _Optional[_Iterable[_Union[Everything.Item, _Mapping]]] = ..., single: _Optional[_Union[Everything.Single, _Mapping]] = ..., picked_node: _Optional[_Union[Node, _Mapping]] = ..., picked_bytes: _Optional[bytes] = ..., picked_string: _Optional[str] = ...) -> None: ...
