from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Blob(_message.Message):
    __slots__ = ("main", "id", "stamp")
    MAIN_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    STAMP_FIELD_NUMBER: _ClassVar[int]
    main: bytes
    id: int
    stamp: Stamp
    def __init__(self, main: _Optional[bytes] = ..., id: _Optional[int] = ..., stamp: _Optional[_Union[Stamp, _Mapping]] = ...) -> None: ...

class Stamp(_message.Message):
    __slots__ = ("seconds", "zone")
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    seconds: int
    zone: str
    def __init__(self, seconds: _Optional[int] = ..., zone: _Optional[str] = ...) -> None: ...

class Holder(_message.Message):
    __slots__ = ("blob", "label", "blobs", "named", "child", "header", "spare", "payload", "nested")
    class NamedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Blob
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Blob, _Mapping]] = ...) -> None: ...
    class Header(_message.Message):
        __slots__ = ("stamp", "note")
        STAMP_FIELD_NUMBER: _ClassVar[int]
        NOTE_FIELD_NUMBER: _ClassVar[int]
        stamp: int
        note: bytes
        def __init__(self, stamp: _Optional[int] = ..., note: _Optional[bytes] = ...) -> None: ...
    class NestedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: Holder
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[Holder, _Mapping]] = ...) -> None: ...
    BLOB_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    NAMED_FIELD_NUMBER: _ClassVar[int]
    CHILD_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SPARE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    NESTED_FIELD_NUMBER: _ClassVar[int]
    blob: Blob
    label: str
    blobs: _containers.RepeatedCompositeFieldContainer[Blob]
    named: _containers.MessageMap[str, Blob]
    child: Holder
    header: Holder.Header
    spare: Blob
    payload: bytes
    nested: _containers.MessageMap[int, Holder]
    def __init__(self, blob: _Optional[_Union[Blob, _Mapping]] = ..., label: _Optional[str] = ..., blobs: _Optional[_Iterable[_Union[Blob, _Mapping]]] = ..., named: _Optional[_Mapping[str, Blob]] = ..., child: _Optional[_Union[Holder, _Mapping]] = ..., header: _Optional[_Union[Holder.Header, _Mapping]] = ..., spare: _Optional[_Union[Blob, _Mapping]] = ..., payload: _Optional[bytes] = ..., nested: _Optional[_Mapping[int, Holder]] = ...) -> None: ...
