from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Format(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FORMAT_UNSPECIFIED: _ClassVar[Format]
    FORMAT_CHUNKED: _ClassVar[Format]
    FORMAT_PLAIN: _ClassVar[Format]
FORMAT_UNSPECIFIED: Format
FORMAT_CHUNKED: Format
FORMAT_PLAIN: Format

class Piece(_message.Message):
    __slots__ = ("header", "offset", "data", "crc32", "last")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CRC32_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    header: Header
    offset: int
    data: bytes
    crc32: int
    last: bool
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ..., crc32: _Optional[int] = ..., last: _Optional[bool] = ...) -> None: ...

class Header(_message.Message):
    __slots__ = ("message_type", "format")
    MESSAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    message_type: str
    format: Format
    def __init__(self, message_type: _Optional[str] = ..., format: _Optional[_Union[Format, str]] = ...) -> None: ...
