"""An index for a file that has none (written by TensorFlow, or by an older proto-splitter): its MESSAGE records
are read once, in file order, and summarized at wire level without building messages (index_builder), so that
after this one pass every lookup is as fast as in an indexed file. BYTES records (values) are not read."""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor

from .chunks import BYTES, MESSAGE
from .index import Index
from .index_builder import IndexBuilder
from .proto import chunk_pb2
from .records import RecordAccess


def scan_index(records: RecordAccess, metadata: chunk_pb2.ChunkMetadata, descriptor: Descriptor) -> Index:
    """The index of an opened file, built by reading its MESSAGE records (kept in memory, not written)."""
    builder = IndexBuilder(descriptor)
    chunks = [chunk for chunk in set(_tree_chunks(metadata.message)) if 0 <= chunk < len(metadata.chunks)]
    chunks.sort(key=lambda chunk: metadata.chunks[chunk].offset)
    for chunk in chunks:
        if metadata.chunks[chunk].type != BYTES:
            records.scan(chunk, lambda data, chunk=chunk: builder.add(chunk, data, MESSAGE))
    return builder.finish(metadata, None)


def _tree_chunks(cm: chunk_pb2.ChunkedMessage) -> list[int]:
    found = [cm.chunk_index] if cm.HasField("chunk_index") else []
    for field in cm.chunked_fields:
        found.extend(_tree_chunks(field.message))
    return found
