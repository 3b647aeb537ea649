"""Which splitter cuts which message type: type-specific splitters registered by full message name,
the generic descriptor-driven splitter for everything else."""

from __future__ import annotations

from typing import Protocol

from google.protobuf.message import Message

from .chunks import ChunkSink
from .proto import chunk_pb2
from .splitter import DEFAULT_MAX_CHUNK_SIZE, GenericSplitter


class Splitter(Protocol):
    """Cuts a message into chunks added to a sink; returns the root ChunkedMessage."""

    def split(self, message: Message, sink: ChunkSink) -> chunk_pb2.ChunkedMessage:
        """Splits `message` into `sink`."""


class SplitterFactory(Protocol):
    """Makes a splitter for a chunk limit; `cut_values` allows proto-splitter's value pieces (extensions.py)."""

    def __call__(self, max_chunk_size: int, *, cut_values: bool = False) -> Splitter: ...


_FACTORIES: dict[str, SplitterFactory] = {}


def register(full_name: str, factory: SplitterFactory) -> None:
    """Makes `factory(max_chunk_size, cut_values=...)` the splitter for messages named `full_name` (e.g.
    tensorflow.GraphDef)."""
    _FACTORIES[full_name] = factory


def splitter_for(message: Message, max_chunk_size: int | None, cut_values: bool = False) -> Splitter:
    """The splitter registered for the message's type, or the generic one."""
    limit = DEFAULT_MAX_CHUNK_SIZE if max_chunk_size is None else max_chunk_size
    factory = _FACTORIES.get(message.DESCRIPTOR.full_name, GenericSplitter)
    return factory(limit, cut_values=cut_values)
