from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Tensor(_message.Message):
    __slots__ = ("dtype", "shape", "content", "float_val", "string_val")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    FLOAT_VAL_FIELD_NUMBER: _ClassVar[int]
    STRING_VAL_FIELD_NUMBER: _ClassVar[int]
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    content: bytes
    float_val: _containers.RepeatedScalarFieldContainer[float]
    string_val: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., content: _Optional[bytes] = ..., float_val: _Optional[_Iterable[float]] = ..., string_val: _Optional[_Iterable[str]] = ...) -> None: ...

class Attr(_message.Message):
    __slots__ = ("tensor", "s", "i", "raw")
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    S_FIELD_NUMBER: _ClassVar[int]
    I_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    tensor: Tensor
    s: str
    i: int
    raw: bytes
    def __init__(self, tensor: _Optional[_Union[Tensor, _Mapping]] = ..., s: _Optional[str] = ..., i: _Optional[int] = ..., raw: _Optional[bytes] = ...) -> None: ...

class Op(_message.Message):
    __slots__ = ("name", "op", "input", "attr", "priority")
    class AttrEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Attr
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Attr, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    ATTR_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    op: str
    input: _containers.RepeatedScalarFieldContainer[str]
    attr: _containers.MessageMap[str, Attr]
    priority: int
    def __init__(self, name: _Optional[str] = ..., op: _Optional[str] = ..., input: _Optional[_Iterable[str]] = ..., attr: _Optional[_Mapping[str, Attr]] = ..., priority: _Optional[int] = ...) -> None: ...

class Function(_message.Message):
    __slots__ = ("name", "ops", "ret")
    class RetEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    OPS_FIELD_NUMBER: _ClassVar[int]
    RET_FIELD_NUMBER: _ClassVar[int]
    name: str
    ops: _containers.RepeatedCompositeFieldContainer[Op]
    ret: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., ops: _Optional[_Iterable[_Union[Op, _Mapping]]] = ..., ret: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Library(_message.Message):
    __slots__ = ("function",)
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    function: _containers.RepeatedCompositeFieldContainer[Function]
    def __init__(self, function: _Optional[_Iterable[_Union[Function, _Mapping]]] = ...) -> None: ...

class Graph(_message.Message):
    __slots__ = ("node", "library", "version", "blobs")
    class BlobsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: bytes
        def __init__(self, key: _Optional[int] = ..., value: _Optional[bytes] = ...) -> None: ...
    NODE_FIELD_NUMBER: _ClassVar[int]
    LIBRARY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    node: _containers.RepeatedCompositeFieldContainer[Op]
    library: Library
    version: int
    blobs: _containers.ScalarMap[int, bytes]
    def __init__(self, node: _Optional[_Iterable[_Union[Op, _Mapping]]] = ..., library: _Optional[_Union[Library, _Mapping]] = ..., version: _Optional[int] = ..., blobs: _Optional[_Mapping[int, bytes]] = ...) -> None: ...
