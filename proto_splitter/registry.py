"""Which splitter cuts which message type: type-specific splitters registered by full message name,
the generic descriptor-driven splitter for everything else."""

from __future__ import annotations

from typing import Protocol

from google.protobuf.message import Message

from .chunks import Chunk, ChunkList, ChunkSink
from .errors import SplitError
from .proto import chunk_pb2
from .splitter import DEFAULT_MAX_CHUNK_SIZE, PROTOBUF_LIMIT, GenericSplitter, object_size


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


def chunk_limit(max_chunk_size: int | None) -> int:
    """The largest chunk `max_chunk_size` allows (None: protobuf's 2 GiB); SplitError for a bad value."""
    if max_chunk_size is None:
        return PROTOBUF_LIMIT
    if not isinstance(max_chunk_size, int) or isinstance(max_chunk_size, bool) or max_chunk_size < 1:
        raise SplitError(f"max_chunk_size must be None or a positive integer, got {max_chunk_size!r}")
    return max_chunk_size


def needs_split(message: Message, max_chunk_size: int | None) -> bool:
    """TensorFlow's rule: a message that fits the limit (2 GiB by default) is written whole, as a `.pb`."""
    return object_size(message) > chunk_limit(max_chunk_size)


def split(
    message: Message, max_chunk_size: int | None = None, *, cut_values: bool = False
) -> tuple[list[Chunk], chunk_pb2.ChunkedMessage]:
    """Splits a message into chunks (Messages or bytes) and the ChunkedMessage tree that merges them.

    A message that fits the limit comes back whole: ([message], ChunkedMessage(chunk_index=0)).

    Raises:
        SplitError: `max_chunk_size` is not None or an integer of at least 64 (when the message must be cut), or a
            part of the message cannot be cut to fit it.
    """
    if not needs_split(message, max_chunk_size):
        return [message], chunk_pb2.ChunkedMessage(chunk_index=0)
    chunks = ChunkList()
    chunked_message = splitter_for(message, max_chunk_size, cut_values).split(message, chunks)
    return chunks.chunks, chunked_message
