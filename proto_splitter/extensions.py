"""proto-splitter's one extension to TensorFlow's chunked format, and the guard that makes TensorFlow refuse it.

With `cut_values=True`, a bytes/string value larger than `max_chunk_size` is cut into pieces attached at the
same field path and joined back by concatenation. TensorFlow's Merger cannot read that (it sets a value from
each piece in turn and keeps the last), and it never looks at `ChunkMetadata.version` (TensorFlow 2.21 reads
neither `join_version` nor `bad_consumers`), so a version number alone would not stop it from returning a wrong
message. A file that uses the extension therefore declares `join_version` 1 and carries two guard fields in its
root `ChunkedMessage` whose field tags begin with a list index and a map key where a field number must come:
TensorFlow's Merger sorts a message's chunked fields before merging any of them, finds tags it cannot compare,
and fails with "Field tag mismatch". proto-splitter's Merger skips the guard fields.
"""

from __future__ import annotations

from .proto import chunk_pb2

VALUE_PIECES_JOIN_VERSION = 1
_GUARD_NOTE = "proto-splitter: values cut into pieces (join_version 1); TensorFlow cannot read this file"
GUARD_FIELDS = (
    chunk_pb2.ChunkedField(field_tag=[chunk_pb2.FieldIndex(index=0)]),
    chunk_pb2.ChunkedField(field_tag=[chunk_pb2.FieldIndex(map_key=chunk_pb2.FieldIndex.MapKey(s=_GUARD_NOTE))]),
)


def is_guard_field(chunked_field: chunk_pb2.ChunkedField) -> bool:
    """True for one of the two guard fields: their exact tags and no chunk (anything else that does not start
    with a field number stays an error of the metadata)."""
    message = chunked_field.message
    return (
        not message.HasField("chunk_index")
        and not message.chunked_fields
        and any(chunked_field.field_tag == guard.field_tag for guard in GUARD_FIELDS)
    )


def add_guard(chunked_message: chunk_pb2.ChunkedMessage) -> None:
    """Marks a root ChunkedMessage as using value pieces (once)."""
    if not has_guard(chunked_message):
        chunked_message.chunked_fields.extend(GUARD_FIELDS)


def has_guard(chunked_message: chunk_pb2.ChunkedMessage) -> bool:
    """Whether a ChunkedMessage carries the guard fields."""
    return any(is_guard_field(field) for field in chunked_message.chunked_fields)


def move_guard(nested: chunk_pb2.ChunkedMessage, root: chunk_pb2.ChunkedMessage) -> None:
    """Moves the guard of a ChunkedMessage that becomes nested (a splitter composed of others) to the root, the
    only level where it stops TensorFlow before it merges anything."""
    if not has_guard(nested):
        return
    kept = [field for field in nested.chunked_fields if not is_guard_field(field)]
    del nested.chunked_fields[:]
    nested.chunked_fields.extend(kept)
    add_guard(root)


def join_version(chunked_message: chunk_pb2.ChunkedMessage) -> int:
    """The merger version a tree needs: 1 when it uses value pieces, else 0 (TensorFlow's)."""
    return VALUE_PIECES_JOIN_VERSION if has_guard(chunked_message) else 0
