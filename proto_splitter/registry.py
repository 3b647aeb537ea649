"""Which splitter cuts which message type: type-specific splitters registered by full message name,
the generic descriptor-driven splitter for everything else; and how a message is written: whole, or split (see
plan_write for when it is serialized in one call first)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from google.protobuf import unknown_fields
from google.protobuf.message import EncodeError, Message

from . import descriptors
from .chunks import Chunk, ChunkList, ChunkSink
from .errors import SplitError
from .proto import chunk_pb2
from .splitter import DEFAULT_MAX_CHUNK_SIZE, PROTOBUF_LIMIT, GenericSplitter, object_size

MANY_ELEMENTS = 1024  # a list this long is worth serializing with its message in one call (see plan_write)
SAMPLES = 4096  # plan_write sizes about this many elements of such a list, evenly spread


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


def needs_split(message: Message, max_chunk_size: int | None) -> bool:
    """TensorFlow's rule: a message that fits the limit (2 GiB by default) is written whole, as a `.pb`."""
    limit = chunk_limit(max_chunk_size)
    return object_size(message, stop=limit) > limit


def chunk_limit(max_chunk_size: int | None) -> int:
    """The largest chunk `max_chunk_size` allows (None: protobuf's 2 GiB); SplitError for a bad value."""
    if max_chunk_size is None:
        return PROTOBUF_LIMIT
    if not isinstance(max_chunk_size, int) or isinstance(max_chunk_size, bool) or max_chunk_size < 1:
        raise SplitError(f"max_chunk_size must be None or a positive integer, got {max_chunk_size!r}")
    return max_chunk_size


@dataclass(frozen=True)
class WritePlan:
    """How to write a message: `chunked` (else whole, as a `.pb`), and its deterministic serialization when it was
    made in one call (then the whole file, or where the splitter cuts the elements of its long lists from)."""

    chunked: bool
    serialized: bytes | None = None

    def whole(self, message: Message) -> bytes:
        """The bytes of the message written whole."""
        return self.serialized if self.serialized is not None else message.SerializeToString(deterministic=True)


def plan_write(message: Message, max_chunk_size: int | None) -> WritePlan:
    """Decides how `message` is written. A message of the generic splitter that holds long lists of small elements
    is serialized in one upb call when that is safe: several times faster than visiting millions of elements from
    Python (for its size, or for the splitter), at the cost of the serialization's memory, about twice its size
    while it is made. Safe means: sampled elements put the serialization under a sixth of this process's memory,
    and the process holds under a quarter of the machine's, so that even elements the sample missed cannot make
    it run out of memory."""
    limit = chunk_limit(max_chunk_size)
    serialized = serialize_at_once(message)
    if serialized is None:
        return WritePlan(object_size(message, stop=limit) > limit)
    return WritePlan(len(serialized) > limit, serialized)


def serialize_at_once(message: Message) -> bytes | None:
    """The message's deterministic serialization when plan_write finds it safe and worth making in one call, else
    None."""
    if message.DESCRIPTOR.full_name in _FACTORIES or len(unknown_fields.UnknownFieldSet(message)):
        return None
    lists = [
        value
        for field, value in message.ListFields()
        if field.message_type is not None
        and descriptors.is_repeated(field)
        and not descriptors.is_map(field)
        and len(value) >= MANY_ELEMENTS
    ]
    resident, physical = _resident_bytes(), _physical_bytes()
    if not lists or resident is None or physical is None or 4 * resident > physical:
        return None
    estimate = 0.0
    for elements in lists:
        step = max(1, len(elements) // SAMPLES)
        size_of = type(elements[0]).ByteSize
        try:
            sizes = np.fromiter(map(size_of, map(elements.__getitem__, range(0, len(elements), step))), np.int64)
        except EncodeError:
            return None
        estimate += float(sizes.mean()) * len(elements)
    if 6 * estimate > resident:
        return None
    return message.SerializePartialToString(deterministic=True)


def _resident_bytes() -> int | None:
    """This process's resident memory (on Linux, now; elsewhere its peak so far, never less); None if unknown."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _physical_bytes() -> int | None:
    """The machine's physical memory; None if unknown."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def split_into(
    message: Message,
    sink: ChunkSink,
    max_chunk_size: int | None,
    cut_values: bool = False,
    serialized: bytes | None = None,
) -> chunk_pb2.ChunkedMessage:
    """Splits `message` into `sink` with the splitter for its type; `serialized` (from plan_write, generic types
    only) is its serialization, where the generic splitter cuts long lists from."""
    splitter = splitter_for(message, max_chunk_size, cut_values)
    if serialized is not None and isinstance(splitter, GenericSplitter):
        return splitter.split(message, sink, serialized)
    return splitter.split(message, sink)


def split(
    message: Message, max_chunk_size: int | None = None, *, cut_values: bool = False
) -> tuple[list[Chunk], chunk_pb2.ChunkedMessage]:
    """Splits a message into chunks (Messages or bytes) and the ChunkedMessage tree that merges them.

    A message that fits the limit comes back whole: ([message], ChunkedMessage(chunk_index=0)).

    Raises:
        SplitError: `max_chunk_size` is not None or an integer of at least 64 (when the message must be cut), or a
            part of the message cannot be cut to fit it.
    """
    plan = plan_write(message, max_chunk_size)
    if not plan.chunked:
        return [message], chunk_pb2.ChunkedMessage(chunk_index=0)
    chunks = ChunkList()
    chunked_message = split_into(message, chunks, max_chunk_size, cut_values, plan.serialized)
    return chunks.chunks, chunked_message
