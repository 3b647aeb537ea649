"""An index for a file that has none (written by TensorFlow, or by an older proto-splitter): its MESSAGE records
are read once, in file order, and summarized at wire level without building messages (index_builder), so that
after this one pass every lookup is as fast as in an indexed file. A big record is read a window at a time, never
whole (records.scan_pieces). BYTES records (values) are not read."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from google.protobuf.descriptor import Descriptor

from . import index_builder, wire
from .chunk_tree import TreeNode
from .chunks import BYTES
from .index import Index, KeyTable
from .index_builder import KEY_FIELD, IndexBuilder, stream_chunks
from .proto import chunk_pb2
from .records import RecordAccess


def scan_index(records: RecordAccess, metadata: chunk_pb2.ChunkMetadata, descriptor: Descriptor) -> Index:
    """The index of an opened file, built by reading its MESSAGE records (kept in memory, not written). Its key
    tables are made when first needed (`key_table`)."""
    builder = IndexBuilder(descriptor, keys=False)
    chunks = [chunk for chunk in set(_tree_chunks(metadata.message)) if 0 <= chunk < len(metadata.chunks)]
    chunks.sort(key=lambda chunk: metadata.chunks[chunk].offset)
    for chunk in chunks:
        if metadata.chunks[chunk].type != BYTES:
            stream = builder.message_stream(chunk, records.size(chunk))
            records.scan_pieces(chunk, stream.feed)
            stream.close()
    return builder.finish(metadata, None)


def key_table(records: RecordAccess, node: TreeNode, number: int) -> KeyTable | None:
    """The key table of list field `number` of a ChunkedMessage (`node`) of a scanned file, made by reading the
    keys of its elements at wire level (once: the caller keeps it)."""
    index = records.index
    assert index is not None
    parts: list[npt.NDArray[np.uint32] | None] = []
    for chunk in stream_chunks(node.cm):
        if chunk not in index.streams:
            continue  # a BYTES chunk: a tree the merge would refuse; no table
        summary = index.streams[chunk]
        row = summary.row(number) if summary is not None else None
        if summary is None:
            return None
        if row is None:
            continue
        if not int(summary.masks[row]) & (1 << wire.LEN):
            parts.append(None)
            continue
        records.scan(chunk, lambda data: parts.append(wire.element_keys(data, 0, len(data), number, KEY_FIELD)))
    return index_builder.key_table(node.position, node.cm, number, parts, index.span_size, None)


def _tree_chunks(cm: chunk_pb2.ChunkedMessage) -> list[int]:
    found = [cm.chunk_index] if cm.HasField("chunk_index") else []
    for field in cm.chunked_fields:
        found.extend(_tree_chunks(field.message))
    return found
