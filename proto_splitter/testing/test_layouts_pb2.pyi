from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StringNode(_message.Message):
    __slots__ = ("val", "child_nodes")
    VAL_FIELD_NUMBER: _ClassVar[int]
    CHILD_NODES_FIELD_NUMBER: _ClassVar[int]
    val: str
    child_nodes: _containers.RepeatedCompositeFieldContainer[StringNode]
    def __init__(self, val: _Optional[str] = ..., child_nodes: _Optional[_Iterable[_Union[StringNode, _Mapping]]] = ...) -> None: ...
