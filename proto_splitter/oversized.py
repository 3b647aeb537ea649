"""Parsing serialized messages that protobuf's own parser refuses: larger than 2 GiB, or nested deeper than
100 levels. Such data is cut at wire level into chunks that parse, which are merged back object by object."""

from __future__ import annotations

from google.protobuf.message import DecodeError

from .chunks import ChunkList
from .errors import ChunkedProtoError, ProtoSplitterError
from .merger import InMemoryChunks, Merger, MessageT
from .proto import chunk_pb2
from .splitter import DEFAULT_MAX_CHUNK_SIZE, PROTOBUF_LIMIT, GenericSplitter

_DEPTH_ERROR = "MaxDepth"


def parse(message_class: type[MessageT], data) -> MessageT:
    """message_class.FromString(data), also for data over 2 GiB or nested past protobuf's recursion limit.

    Raises ChunkedProtoError when data is not a valid serialization of message_class."""
    if len(data) <= PROTOBUF_LIMIT:
        try:
            return message_class.FromString(data)
        except DecodeError as error:
            if _DEPTH_ERROR not in str(error):
                raise _invalid(message_class.DESCRIPTOR, data, error) from None
    chunks, chunked_message = cut(message_class.DESCRIPTOR, data)
    message = message_class()
    try:
        Merger(InMemoryChunks(chunks)).merge(chunked_message, message)
    except (ChunkedProtoError, DecodeError) as error:
        raise _invalid(message_class.DESCRIPTOR, data, error) from None
    return message


def cut(descriptor, data) -> tuple[list, chunk_pb2.ChunkedMessage]:
    """Cuts a serialized message of any size or depth into chunks that protobuf parses, and their tree."""
    chunks = ChunkList()
    try:
        splitter = GenericSplitter(DEFAULT_MAX_CHUNK_SIZE, cut_values=True)  # in memory: our merger joins pieces
        chunked_message = splitter.split_serialized(descriptor, data, chunks)
    except (ProtoSplitterError, ValueError, IndexError) as error:
        raise _invalid(descriptor, data, error) from None
    return chunks.chunks, chunked_message


def _invalid(descriptor, data, error: Exception) -> ChunkedProtoError:
    return ChunkedProtoError(f"not a valid serialized {descriptor.full_name} ({len(data)} bytes): {error}")
