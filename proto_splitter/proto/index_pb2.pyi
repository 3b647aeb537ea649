from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IndexLocation(_message.Message):
    __slots__ = ("version", "offset", "size")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    version: int
    offset: int
    size: int
    def __init__(self, version: _Optional[int] = ..., offset: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class ChunkIndex(_message.Message):
    __slots__ = ("version", "metadata_hash", "span_size", "checkpoint_gap", "message_type", "records", "streams", "key_tables", "padding")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    METADATA_HASH_FIELD_NUMBER: _ClassVar[int]
    SPAN_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_GAP_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    KEY_TABLES_FIELD_NUMBER: _ClassVar[int]
    PADDING_FIELD_NUMBER: _ClassVar[int]
    version: int
    metadata_hash: int
    span_size: int
    checkpoint_gap: int
    message_type: str
    records: RecordHashes
    streams: _containers.RepeatedCompositeFieldContainer[StreamSummary]
    key_tables: _containers.RepeatedCompositeFieldContainer[KeyTable]
    padding: bytes
    def __init__(self, version: _Optional[int] = ..., metadata_hash: _Optional[int] = ..., span_size: _Optional[int] = ..., checkpoint_gap: _Optional[int] = ..., message_type: _Optional[str] = ..., records: _Optional[_Union[RecordHashes, _Mapping]] = ..., streams: _Optional[_Iterable[_Union[StreamSummary, _Mapping]]] = ..., key_tables: _Optional[_Iterable[_Union[KeyTable, _Mapping]]] = ..., padding: _Optional[bytes] = ...) -> None: ...

class RecordHashes(_message.Message):
    __slots__ = ("hashes", "first_span", "span_hashes")
    HASHES_FIELD_NUMBER: _ClassVar[int]
    FIRST_SPAN_FIELD_NUMBER: _ClassVar[int]
    SPAN_HASHES_FIELD_NUMBER: _ClassVar[int]
    hashes: bytes
    first_span: bytes
    span_hashes: bytes
    def __init__(self, hashes: _Optional[bytes] = ..., first_span: _Optional[bytes] = ..., span_hashes: _Optional[bytes] = ...) -> None: ...

class StreamSummary(_message.Message):
    __slots__ = ("chunk", "fields", "checkpoints", "unsummarized")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    UNSUMMARIZED_FIELD_NUMBER: _ClassVar[int]
    chunk: int
    fields: bytes
    checkpoints: bytes
    unsummarized: bool
    def __init__(self, chunk: _Optional[int] = ..., fields: _Optional[bytes] = ..., checkpoints: _Optional[bytes] = ..., unsummarized: _Optional[bool] = ...) -> None: ...

class KeyTable(_message.Message):
    __slots__ = ("owner", "field", "key_field", "count", "entries", "record_offset", "record_size", "record_span_hashes", "fences", "owner_entries")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    RECORD_OFFSET_FIELD_NUMBER: _ClassVar[int]
    RECORD_SIZE_FIELD_NUMBER: _ClassVar[int]
    RECORD_SPAN_HASHES_FIELD_NUMBER: _ClassVar[int]
    FENCES_FIELD_NUMBER: _ClassVar[int]
    OWNER_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    owner: _containers.RepeatedScalarFieldContainer[int]
    field: int
    key_field: int
    count: int
    entries: bytes
    record_offset: int
    record_size: int
    record_span_hashes: bytes
    fences: bytes
    owner_entries: bytes
    def __init__(self, owner: _Optional[_Iterable[int]] = ..., field: _Optional[int] = ..., key_field: _Optional[int] = ..., count: _Optional[int] = ..., entries: _Optional[bytes] = ..., record_offset: _Optional[int] = ..., record_size: _Optional[int] = ..., record_span_hashes: _Optional[bytes] = ..., fences: _Optional[bytes] = ..., owner_entries: _Optional[bytes] = ...) -> None: ...
