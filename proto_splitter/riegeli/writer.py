"""RecordWriter: writes records into a Riegeli/records file, strictly sequentially (pipes and sockets work)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

from .._atomic import AtomicFile
from ..errors import RiegeliError
from . import simple_chunk, transposed_chunk
from .format import (
    BLOCK_HEADER_SIZE,
    BLOCK_SIZE,
    CHUNK_HEADER_SIZE,
    FILE_SIGNATURE,
    PADDING,
    SIMPLE,
    TRANSPOSED,
    ChunkHeader,
    add_with_overhead,
    block_headers_between,
    chunk_end,
    encode_block_header,
)
from .highwayhash import highway_hash
from .options import parse_options
from .positions import RecordPosition
from .sources import Bytes

if TYPE_CHECKING:
    from google.protobuf.message import Message
    from typing_extensions import Buffer


class RecordWriter:
    """Writes records to a path (atomically: a temporary file renamed on close) or a binary file object.

    Records gather in a chunk until its decoded size reaches `chunk_size`; a bigger record gets a chunk of
    its own. Memory holds at most the current chunk (about 2x a record while it is written)."""

    def __init__(self, dest: str | os.PathLike[str] | BinaryIO, options: str | None = None):
        self._options = parse_options(options)
        self._atomic: AtomicFile | None = None
        self._out: BinaryIO
        self._fd: int | None = None
        if isinstance(dest, (str, os.PathLike)):
            path = os.fspath(dest)
            if os.path.isdir(path):
                raise RiegeliError(f"cannot write {path!r}: it is a directory")
            try:
                self._atomic = AtomicFile(path)
            except OSError as error:
                raise RiegeliError(f"cannot write {path!r}: {error.strerror}") from None
            self._out = self._atomic.file
            self._fd = self._out.fileno() if hasattr(os, "writev") else None  # our own file: pieces go by writev
        elif hasattr(dest, "write"):
            self._out = dest
        else:
            raise RiegeliError(f"cannot write Riegeli records to {type(dest).__name__}")
        self._pos = 0
        self._pending: list[Bytes] = []
        self._pending_size = 0
        self._chunk_size = self._options.chunk_size
        self._last_begin, self._last_index = -1, 0  # where the last record is (no record yet: -1)
        self._closed = False
        self._emit([FILE_SIGNATURE])
        self._pos = len(FILE_SIGNATURE)
        self._pad_to_multiple(self._options.initial_padding)

    # ---- context manager ------------------------------------------------------------------------------------

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # ---- records -------------------------------------------------------------------------------------------

    def write_record(self, record: Buffer) -> None:
        """Appends one record (any bytes-like object)."""
        if self._closed:
            raise RiegeliError("the writer is closed")
        if type(record) is bytes:  # the common case, kept cheap: small records cost their Python overhead
            kept: Bytes = record
        else:
            try:
                view = memoryview(record).cast("B")
            except TypeError:
                raise RiegeliError(f"a record must be bytes-like, got {type(record).__name__}") from None
            kept = view
        size = len(kept)
        if self._pending and self._pending_size + size > self._chunk_size:
            self._write_pending()
        if not isinstance(record, bytes) and self._pending_size + size < self._chunk_size:
            kept = bytes(kept)  # a mutable record waits in the chunk beyond this call: a copy (else written now)
        self._pending.append(kept)
        self._pending_size += size
        self._last_begin, self._last_index = self._pos, len(self._pending) - 1
        if self._pending_size >= self._chunk_size:
            self._write_pending()

    def write_message(self, message: Message) -> None:
        """Appends a protobuf message, serialized deterministically."""
        self.write_record(message.SerializeToString(deterministic=True))

    def write_records(self, records: Iterable[Buffer]) -> None:
        """Appends records (bytes-like objects)."""
        for record in records:
            self.write_record(record)

    def write_messages(self, messages: Iterable[Message]) -> None:
        """Appends protobuf messages, serialized deterministically."""
        for message in messages:
            self.write_message(message)

    @property
    def last_pos(self) -> RecordPosition:
        """Position of the last record written."""
        if self._last_begin < 0:
            raise RiegeliError("no record has been written yet")
        return RecordPosition(self._last_begin, self._last_index)

    @property
    def pos(self) -> RecordPosition:
        """Position the next record will get."""
        return RecordPosition(self._pos, len(self._pending))

    def end_chunk(self) -> None:
        """Ends the current chunk: the records written next go into a chunk of their own."""
        self._write_pending()

    def flush(self) -> None:
        """Ends the current chunk and flushes the destination."""
        self.end_chunk()
        self._out.flush()

    def close(self) -> None:
        """Finishes the file; for a path, moves it under its final name."""
        if self._closed:
            return
        try:
            self._write_pending()
            self._pad_to_multiple(self._options.final_padding)
            self._out.flush()
            if self._atomic is not None:
                self._atomic.commit()
        except OSError as error:
            self.abort()
            target = repr(self._atomic.path) if self._atomic else "the file"
            raise RiegeliError(f"finishing {target} failed: {error}") from None
        except BaseException:
            self.abort()
            raise
        self._closed = True

    def abort(self) -> None:
        """Gives up: for a path, deletes the temporary file and leaves the final name untouched."""
        self._closed = True
        if self._atomic is not None:
            self._atomic.discard()

    # ---- chunks --------------------------------------------------------------------------------------------

    def _write_pending(self) -> None:
        if not self._pending:
            return
        options = self._options
        kind, level, window_log = options.compression, options.level, options.window_log
        parts: list[Bytes]
        if options.transpose:
            data, decoded_size = transposed_chunk.encode(self._pending, kind, level, window_log, options.bucket_size)
            parts, chunk_type = [data], TRANSPOSED
        else:
            parts, decoded_size = simple_chunk.encode(self._pending, kind, level, window_log)
            chunk_type = SIMPLE
        count = len(self._pending)
        self._pending, self._pending_size = [], 0
        size = sum(len(part) for part in parts)
        self._write_chunk(ChunkHeader(size, highway_hash(parts), chunk_type, count, decoded_size), *parts)

    def _write_chunk(self, header: ChunkHeader, *parts: Bytes) -> None:
        """Writes header + data (the concatenation of `parts`) + padding from the current position, with block
        headers at boundaries."""
        begin = self._pos
        end = chunk_end(begin, header.data_size, header.num_records)
        padding = end - begin - BLOCK_HEADER_SIZE * block_headers_between(begin, end) - CHUNK_HEADER_SIZE
        padding -= header.data_size
        pieces: list[Bytes] = []
        position = begin
        for segment in (header.encode(), *parts, bytes(padding)):
            view = memoryview(segment)
            while view:
                if position % BLOCK_SIZE == 0:
                    pieces.append(encode_block_header(position - begin, end - position))
                    position += BLOCK_HEADER_SIZE
                take = min(len(view), BLOCK_SIZE - position % BLOCK_SIZE)
                pieces.append(view[:take])
                view = view[take:]
                position += take
        self._emit(pieces)
        self._pos = end

    def _emit(self, pieces: list[Bytes]) -> None:
        try:
            if self._fd is not None:
                write_all(self._fd, pieces)
                return
            for piece in pieces:
                self._out.write(piece)
        except (OSError, ValueError) as error:
            raise RiegeliError(f"writing at byte {self._pos} failed: {error}") from None

    def _pad_to_multiple(self, multiple: int) -> None:
        """Appends a padding chunk so that the file size becomes a multiple of `multiple` (when > 1)."""
        if multiple <= 1 or self._pos % multiple == 0:
            return
        target = self._pos + (-self._pos % multiple)
        while True:
            content = target - self._pos - BLOCK_HEADER_SIZE * block_headers_between(self._pos, target)
            data_size = content - CHUNK_HEADER_SIZE
            if data_size >= 0 and add_with_overhead(self._pos, content) == target:
                break
            target += multiple
        self._write_chunk(ChunkHeader(data_size, highway_hash(bytes(data_size)), PADDING, 0, 0), bytes(data_size))


IOV_MAX = 1024  # buffers per writev call (POSIX guarantees at least 16; Linux and macOS take 1024)


def write_all(fd: int, pieces: list[Bytes]) -> None:
    """Writes `pieces` (bytes or byte-format memoryviews) in order to the file descriptor `fd` in as few system
    calls as writev allows: a chunk's block headers and data go out together, not as two writes per 64 KiB block.
    A partial write resumes where it stopped."""
    start = 0
    while start < len(pieces):
        batch = pieces[start : start + IOV_MAX]
        written = os.writev(fd, batch)
        if written == 0 and any(batch):
            raise OSError("writev wrote nothing")
        for piece in batch:
            if written < len(piece):
                pieces[start] = memoryview(piece)[written:]
                break
            written -= len(piece)
            start += 1
