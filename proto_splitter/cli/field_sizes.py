"""`info --fields`: where the bytes of a chunked (or plain) message are, per field path.

Every record of the file is scanned at wire level (no message is built): a MESSAGE record's occurrences are added
to the path of their field, level by level down to `depth` fields, many small messages per call of the C scanner;
a record's whole size is added to its own path and every path above it (the record was cut out of those). Paths
drop list indices and map keys, so the figures are summed over repeated elements and map entries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from .. import wire
from ..errors import ChunkedProtoError
from ..handle import ChunkedFile
from ..proto import chunk_pb2

BATCH = 1 << 18  # messages scanned per call of the C scanner (each yields a row of 40 bytes per field occurrence)
_LEN = wire.LEN
Path = tuple[str, ...]


def field_sizes(handle: ChunkedFile[Any], depth: int = 4) -> dict[str, int]:
    """Bytes per field path (dotted names, or numbers where the type is unknown), down to `depth` fields."""
    sizes: dict[Path, int] = {}
    descriptor = handle.message_class.DESCRIPTOR
    records = handle.resolver.records
    metadata = handle.metadata
    placed = _placed_chunks(metadata.message, descriptor, ()) if metadata is not None else [(0, descriptor, ())]
    for chunk, message_type, path in placed:  # a plain .pb: one record, the message
        if metadata is not None and not 0 <= chunk < len(metadata.chunks):
            raise ChunkedProtoError(f"the chunk tree names chunk {chunk}; the file has {len(metadata.chunks)}")
        chunk_type = metadata.chunks[chunk].type if metadata is not None else chunk_pb2.ChunkInfo.MESSAGE
        size = records.size(chunk)
        for length in range(min(len(path), depth) + 1):  # a record deeper than `depth`: counted at that depth
            sizes[path[:length]] = sizes.get(path[:length], 0) + size
        if chunk_type == chunk_pb2.ChunkInfo.MESSAGE and len(path) < depth:

            def scan(data: memoryview, message_type: Descriptor | None = message_type, path: Path = path) -> None:
                _add_levels(data, np.array([[0, len(data)]], dtype=np.uint64), message_type, path, depth, sizes)

            records.scan(chunk, scan)
    sizes.pop((), None)
    return {".".join(path): size for path, size in sizes.items()}


def _placed_chunks(
    cm: chunk_pb2.ChunkedMessage, descriptor: Descriptor | None, path: Path
) -> Iterator[tuple[int, Descriptor | None, Path]]:
    """(chunk, its message type or None, its path) of every chunk of the tree below `cm`."""
    if cm.HasField("chunk_index"):
        yield cm.chunk_index, descriptor, path
    for chunked_field in cm.chunked_fields:
        child_type, child_path = descriptor, list(path)
        for tag in chunked_field.field_tag:
            kind = tag.WhichOneof("kind")
            if kind == "field":
                field = child_type.fields_by_number.get(tag.field) if child_type is not None else None
                child_path.append(field.name if field is not None else str(tag.field))
                child_type = field.message_type if field is not None else None
            elif kind == "map_key" and child_type is not None:  # the entry's value: its fields follow
                value = child_type.fields_by_name.get("value")
                child_path.append("value")
                child_type = value.message_type if value is not None else None
        yield from _placed_chunks(chunked_field.message, child_type, tuple(child_path))


def _add_levels(
    data: memoryview,
    ranges: npt.NDArray[np.uint64],
    descriptor: Descriptor | None,
    path: Path,
    depth: int,
    sizes: dict[Path, int],
) -> None:
    """Adds the occurrences of the messages data[start:end] of `ranges` (all of type `descriptor`) per field, then
    the fields of their message-typed fields, down to `depth` fields."""
    for first in range(0, len(ranges), BATCH):
        rows = wire.nested_occurrences(data, ranges[first : first + BATCH])
        keys = rows[:, 1]
        for key in np.unique(keys).tolist():
            mine = rows[keys == key]
            number, wire_type = key >> 3, key & 7
            field = descriptor.fields_by_number.get(number) if descriptor is not None else None
            child = (*path, field.name if field is not None else str(number))
            sizes[child] = sizes.get(child, 0) + int((mine[:, 4] - mine[:, 2]).sum())
            nested = _message_type(field)
            if wire_type == _LEN and nested is not None and len(child) < depth:
                _add_levels(data, np.ascontiguousarray(mine[:, 3:5]), nested, child, depth, sizes)


def _message_type(field: FieldDescriptor | None) -> Descriptor | None:
    if field is None or field.type != FieldDescriptor.TYPE_MESSAGE:
        return None
    return field.message_type
