"""Reading the elements of a top-level list of a `.cpb` one at a time, in memory bounded by a chunk and an element:
what the tests and benchmarks of ps.Writer use to read back files larger than memory (until the library reads lists
lazily itself). Follows the layout the splitter writes: list elements in the root's chunk and in fragments merged at
the root, in chunk order, with the chunks attached below an element (at `field[i]...`) merged into it. A chunk's
elements are parsed one at a time from its bytes: a chunk of a million small elements parsed whole would take
about ten times its size as protobuf objects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import numpy as np
from google.protobuf.message import Message

from .. import files, riegeli, wire
from ..errors import ChunkedProtoError
from ..field_paths import Field, FieldPath, Index, from_field_tags, to_field_tags
from ..merger import Merger
from ..proto import chunk_pb2

MessageT = TypeVar("MessageT", bound=Message)


def iter_elements(path: str, message_class: type[MessageT], field_name: str) -> Iterator[Message]:
    """Yields the elements of the list `field_name` of the message in the `.cpb` at `path`, in order."""
    descriptor = message_class.DESCRIPTOR
    number = descriptor.fields_by_name[field_name].number
    metadata = files.read_metadata(path)
    root = metadata.message
    fragments = [root.chunk_index] if root.HasField("chunk_index") else []
    below: dict[int, list[tuple[FieldPath, chunk_pb2.ChunkedMessage]]] = {}
    for chunked_field in root.chunked_fields:
        steps = from_field_tags(chunked_field.field_tag)
        if not steps:
            fragments.append(chunked_field.message.chunk_index)
        elif steps[:1] == (Field(number),) and len(steps) > 1 and isinstance(steps[1], Index):
            below.setdefault(steps[1].value, []).append((steps[2:], chunked_field.message))
    fragments[1:] = sorted(fragments[1:])
    element_class = type(getattr(message_class(), field_name).add())
    with riegeli.RecordReader(path) as reader:
        chunks = files.RiegeliChunks(reader, metadata.chunks)
        index = 0
        for chunk_index in fragments:
            for element in _elements_in(chunks.get(chunk_index), number, element_class):
                attached = below.pop(index, None)
                if attached:
                    tree = chunk_pb2.ChunkedMessage()
                    for steps, sub in attached:
                        tree.chunked_fields.add(field_tag=to_field_tags(steps, element_class.DESCRIPTOR), message=sub)
                    Merger(chunks).merge(tree, element)
                yield element
                index += 1
    if below:
        raise ChunkedProtoError(f"chunks are attached below {len(below)} elements that no chunk holds")


def _elements_in(data: bytes, number: int, element_class: type[MessageT]) -> Iterator[MessageT]:
    """The elements of the list field `number` in one serialized chunk of its message, parsed one at a time."""
    table = wire.occurrence_table(data)
    mine = table.keys == np.uint64((number << 3) | wire.LEN)
    tag_size = len(wire.encode_tag(number, wire.LEN))
    for start, end in zip(table.starts[mine].tolist(), table.ends[mine].tolist(), strict=True):
        _, payload = wire.decode_varint(data, start + tag_size, end)
        yield element_class.FromString(data[payload:end])
