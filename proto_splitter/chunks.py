"""Chunk containers: where a splitter puts the chunks it cuts, in memory or streamed to a writer."""

from __future__ import annotations

from typing import Protocol, cast

from google.protobuf.message import Message

from .proto import chunk_pb2


class SerializedMessage(bytes):
    """A chunk holding a serialized message (ChunkInfo type MESSAGE), as opposed to raw field bytes."""


Chunk = Message | bytes
ChunkData = Message | bytes | bytearray | memoryview  # what a splitter hands a sink: a message, or its bytes
MESSAGE = chunk_pb2.ChunkInfo.MESSAGE
BYTES = chunk_pb2.ChunkInfo.BYTES


class ChunkSink(Protocol):
    """Receives chunks as a splitter produces them; indices are positions in ChunkMetadata.chunks."""

    def reserve(self) -> int:
        """Reserves the next chunk index for data supplied later with fill()."""

    def add(self, data: ChunkData, chunk_type: int) -> int:
        """Appends a chunk (bytes-like) of ChunkInfo type chunk_type; returns its index."""

    def fill(self, index: int, data: ChunkData, chunk_type: int) -> None:
        """Supplies the data of a reserved index."""


def chunk_type_of(chunk: Chunk) -> int:
    """ChunkInfo type of an in-memory chunk."""
    return MESSAGE if isinstance(chunk, (Message, SerializedMessage)) else BYTES


class ChunkList:
    """A ChunkSink keeping every chunk in memory (for ps.split)."""

    def __init__(self) -> None:
        self._chunks: list[Chunk | None] = []

    @property
    def chunks(self) -> list[Chunk]:
        """The chunks, once every reserved index is filled."""
        if any(chunk is None for chunk in self._chunks):
            raise ValueError("a reserved chunk was never filled")
        return cast(list[Chunk], self._chunks)

    def reserve(self) -> int:
        self._chunks.append(None)
        return len(self._chunks) - 1

    def add(self, data: ChunkData, chunk_type: int) -> int:
        self._chunks.append(_materialize(data, chunk_type))
        return len(self._chunks) - 1

    def fill(self, index: int, data: ChunkData, chunk_type: int) -> None:
        self._chunks[index] = _materialize(data, chunk_type)


def _materialize(data: ChunkData, chunk_type: int) -> Chunk:
    if isinstance(data, Message):
        return data
    return SerializedMessage(data) if chunk_type == MESSAGE else bytes(data)
