"""The chunk-size rule every split obeys: a chunk is at most max_chunk_size bytes, unless it holds a single value
(a BYTES chunk, or a MESSAGE chunk of one field occurrence that cannot be cut), as in TensorFlow's splitters."""

from __future__ import annotations

from google.protobuf.message import Message

from proto_splitter import riegeli, wire
from proto_splitter.chunks import SerializedMessage
from proto_splitter.proto import chunk_pb2, index_pb2


def chunk_bytes(chunk) -> tuple[int, bytes]:
    """(ChunkInfo type, serialized bytes) of a chunk from ps.split."""
    if isinstance(chunk, Message):
        return chunk_pb2.ChunkInfo.MESSAGE, chunk.SerializePartialToString()
    kind = chunk_pb2.ChunkInfo.MESSAGE if isinstance(chunk, SerializedMessage) else chunk_pb2.ChunkInfo.BYTES
    return kind, bytes(chunk)


def assert_chunk_within_limit(kind: int, data: bytes, limit: int) -> None:
    if len(data) <= limit or kind == chunk_pb2.ChunkInfo.BYTES:
        return
    occurrences = list(wire.scan(data))
    assert len(occurrences) == 1, f"a message chunk of {len(data)} bytes (limit {limit}) holds {len(occurrences)}"


def assert_chunks_within_limit(chunks, limit: int) -> None:
    """Checks the chunks of ps.split against the rule."""
    for chunk in chunks:
        assert_chunk_within_limit(*chunk_bytes(chunk), limit)


def index_records(metadata: chunk_pb2.ChunkMetadata, records: dict) -> set[int]:
    """The positions of the records of the file's index (the ChunkIndex and its key tables): no ChunkInfo names
    them."""
    if not metadata.HasField("index"):
        return set()
    index = index_pb2.ChunkIndex.FromString(records[metadata.index.offset])
    return {metadata.index.offset} | {table.record_offset for table in index.key_tables if table.record_size}


def assert_file_chunks_within_limit(data, limit: int) -> chunk_pb2.ChunkMetadata:
    """Checks every chunk of a `.cpb` (path or bytes) against the rule and its ChunkInfo; returns the metadata."""
    records = {}
    with riegeli.RecordReader(data) as reader:
        for record in reader.read_records():
            records[reader.last_pos.numeric] = record
    metadata = chunk_pb2.ChunkMetadata.FromString(record)
    assert len(metadata.chunks) == len(records) - 1 - len(index_records(metadata, records))
    for info in metadata.chunks:
        record = records[info.offset]
        assert info.size == len(record)
        assert info.type in (chunk_pb2.ChunkInfo.MESSAGE, chunk_pb2.ChunkInfo.BYTES)
        assert_chunk_within_limit(info.type, record, limit)
    return metadata
