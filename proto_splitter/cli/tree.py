"""The ChunkedMessage tree as the tool shows it: readable field paths (names when the message type is
known, field numbers otherwise) for every chunk, and the references the tree makes to chunks."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

from google.protobuf.descriptor import Descriptor

from .. import extensions, field_paths
from ..errors import ChunkedProtoError
from ..proto import chunk_pb2


@dataclass
class Node:
    """A ChunkedMessage: its own chunk, its path from the root, and the ChunkedFields below it."""

    chunk: int | None
    path: str
    relative: str
    children: list = dataclass_field(default_factory=list)

    def walk(self, depth: int = 0):
        """(depth, node) for this node and every node below it, parents first."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)

    def to_json(self) -> dict:
        result: dict = {"path": self.path, "relative_path": self.relative, "chunk": self.chunk}
        if self.children:
            result["fields"] = [child.to_json() for child in self.children]
        return result


def format_tags(field_tags, descriptor: Descriptor | None) -> tuple[str, Descriptor | None]:
    """A FieldIndex list as text (``node[3].attr['value'].tensor``; numbers for unknown fields) and the message
    type it leads to (None when unknown, not a message, or when the tags do not fit the type)."""
    try:
        path = field_paths.from_field_tags(field_tags)
    except ChunkedProtoError:
        return "[?]", None
    try:
        target = field_paths.target(descriptor, path) if descriptor is not None else None
    except ChunkedProtoError:
        target = None
    return field_paths.format_path(path, descriptor), target


def join(prefix: str, relative: str) -> str:
    if not relative:
        return prefix
    return f"{prefix}.{relative}" if prefix else relative


def build(
    chunked_message: chunk_pb2.ChunkedMessage, descriptor: Descriptor | None, prefix: str = "", relative: str = ""
) -> Node:
    node = Node(chunked_message.chunk_index if chunked_message.HasField("chunk_index") else None, prefix, relative)
    for chunked_field in chunked_message.chunked_fields:
        if extensions.is_guard_field(chunked_field):
            continue
        text, target = format_tags(chunked_field.field_tag, descriptor)
        node.children.append(build(chunked_field.message, target, join(prefix, text), text))
    return node


def chunk_paths(root: Node) -> dict[int, str]:
    """Chunk index -> display path of the message or value it holds ("<root>" for the top level)."""
    result: dict[int, str] = {}
    for _, node in root.walk():
        if node.chunk is not None and node.chunk not in result:
            result[node.chunk] = node.path or "<root>"
    return result


def references(chunked_message: chunk_pb2.ChunkedMessage) -> list[int]:
    """Every chunk index the tree refers to, in tree order (with repeats, if any)."""
    found = [chunked_message.chunk_index] if chunked_message.HasField("chunk_index") else []
    for chunked_field in chunked_message.chunked_fields:
        found.extend(references(chunked_field.message))
    return found
