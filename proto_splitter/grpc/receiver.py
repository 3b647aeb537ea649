"""Receiving a message sent as pieces: each piece is checked as it arrives (header, offset, CRC-32), then the data
is merged into the message (receive) or streamed into a file that appears under its final name only once complete
and verified (receive_to)."""

from __future__ import annotations

import collections
import contextlib
import io
import sys
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, TypeVar, cast

from google.protobuf.message import Message

from .. import _atomic, files, riegeli
from ..errors import TransferError
from . import piece_pb2
from .sender import type_name

M = TypeVar("M", bound=Message)
PIECE_TYPE = piece_pb2.Piece.DESCRIPTOR.full_name
EXTENSIONS = {piece_pb2.FORMAT_CHUNKED: ".cpb", piece_pb2.FORMAT_PLAIN: ".pb"}


def receive(pieces: Iterable[Any], message_class: type[M]) -> M:
    """The message sent as `pieces` (a gRPC request iterator, or the response iterator of a call). Chunks are kept
    as they arrive and merged once the ChunkMetadata (the last record) is in, each released as soon as merged: the
    peak is about the message's own size, never the stream and the message both.

    Reads up to the last piece of one message (pieces after it stay in the iterator). A stream cancelled or cut
    short, a damaged or misplaced piece, or a message of another type raise TransferError (other damage:
    RiegeliError, ChunkedProtoError), and cancel the call when `pieces` is one."""
    files.check_message_class(message_class)
    reader = PieceReader(pieces, type_name(message_class))
    with _cancelled_on_error(pieces):
        message = files.read(cast(BinaryIO, reader), message_class)
        reader.read_to_end()
    return cast(M, message)


def receive_to(pieces: Iterable[Any], prefix: files.PathLike, message_class: type[Message] | None = None) -> str:
    """Writes the message sent as `pieces` to `<prefix>.cpb` (or `<prefix>.pb` when it was sent whole) as the
    pieces arrive, and returns that path; memory holds a chunk or two, whatever the message's size.

    The file appears under its name only when the last piece has arrived and it is verified (every Riegeli chunk's
    hash, and its ChunkMetadata); on any error nothing is left behind, and the call is cancelled as for receive.
    With `message_class`, pieces of another message type are refused."""
    prefix = files.output_prefix(prefix)
    expected = None
    if message_class is not None:
        files.check_message_class(message_class)
        expected = type_name(message_class)
    reader = PieceReader(pieces, expected)
    with _cancelled_on_error(pieces):
        path = prefix + EXTENSIONS[reader.header().format]
        chunked = path.endswith(".cpb")
        with _atomic.AtomicFile(path) as out:
            reader.copy_to(out.file)
            if chunked:
                _verify_records(reader)
            reader.read_to_end()
            if chunked:
                out.file.flush()
                files.read_metadata(out.temporary)
        files.remove_stale_sibling(path)
    return path


def _verify_records(stream: io.RawIOBase) -> None:
    """Reads a Riegeli stream to its end, which checks every chunk (hashes, framing), keeping no record."""
    with riegeli.RecordReader(stream) as reader:
        collections.deque(reader.read_records(copy=False), maxlen=0)


class PieceReader(io.RawIOBase):
    """The bytes carried by a stream of pieces, as a non-seekable binary file. Each piece is checked as it is
    pulled: the first carries the header (message type, format), every one its offset and, when set, its CRC-32;
    the data ends with the last piece, and a stream ending before it is an error."""

    def __init__(self, pieces: Iterable[Any], expected_type: str | None = None):
        super().__init__()
        self._pieces = iter(pieces)
        self._expected_type = expected_type
        self._header: piece_pb2.Header | None = None
        self._current = memoryview(b"")
        self._received = 0  # bytes of data pulled so far
        self._count = 0  # pieces pulled so far
        self._last = False
        self._copy: BinaryIO | None = None

    def readable(self) -> bool:
        return True

    def header(self) -> piece_pb2.Header:
        """The stream's header (pulling the first piece if needed)."""
        if self._header is None:
            self._next_piece()
        assert self._header is not None
        return self._header

    def copy_to(self, out: BinaryIO) -> None:
        """From now on, writes the data of every piece to `out` as it arrives, beginning with the data pulled but
        not read yet; call it before reading anything."""
        if self._received != len(self._current):
            raise TransferError("copy_to must be called before the stream is read")
        self._copy = out
        self._write_copy(self._current)

    def readinto(self, buffer: Any) -> int:
        while not self._current:
            if self._last:
                return 0
            self._next_piece()
        view = memoryview(buffer).cast("B")
        count = min(len(view), len(self._current))
        view[:count] = self._current[:count]
        self._current = self._current[count:]
        return count

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (all the rest when negative), from one piece at a time: fewer copies than
        RawIOBase.read."""
        if size is None or size < 0:
            return self.readall()
        while not self._current:
            if self._last or size == 0:
                return b""
            self._next_piece()
        data = bytes(self._current[:size])
        self._current = self._current[len(data) :]
        return data

    def read_to_end(self) -> None:
        """Pulls the remaining pieces up to the last one, checking (and copying) them without keeping their data."""
        self._current = memoryview(b"")
        while not self._last:
            self._next_piece()
            self._current = memoryview(b"")

    def _next_piece(self) -> None:
        piece = self._pull()
        where = f"piece {self._count} (at byte {self._received})"
        if piece is None:
            raise TransferError(
                f"the stream ended after {self._count} pieces ({self._received} bytes), before its last piece"
            )
        descriptor = getattr(piece, "DESCRIPTOR", None)
        if getattr(descriptor, "full_name", None) != PIECE_TYPE:
            raise TransferError(f"{where} is a {type(piece).__name__}, not a {PIECE_TYPE}")
        if self._header is None:
            if not piece.HasField("header"):
                raise TransferError("the first piece has no header")
            self._header = self._checked(piece.header)
        elif piece.HasField("header"):
            raise TransferError(f"{where} has a header, which only the first piece of a message may have")
        if piece.offset != self._received:
            raise TransferError(f"{where} says it begins at byte {piece.offset}: pieces were lost or reordered")
        data = piece.data
        if piece.HasField("crc32") and zlib.crc32(data) != piece.crc32:
            raise TransferError(f"{where} is damaged: the CRC-32 of its {len(data)} bytes does not match")
        self._received += len(data)
        self._count += 1
        self._current = memoryview(data)
        self._last = piece.last
        self._write_copy(self._current)

    def _checked(self, header: piece_pb2.Header) -> piece_pb2.Header:
        if self._expected_type is not None and header.message_type != self._expected_type:
            raise TransferError(
                f"the stream carries a {header.message_type or 'message of unnamed type'}, not a {self._expected_type}"
            )
        if header.format not in EXTENSIONS:
            raise TransferError(f"the header names an unknown format ({header.format})")
        return header

    def _pull(self) -> Any:
        try:
            return next(self._pieces, None)
        except Exception as error:
            grpc = sys.modules.get("grpc")  # an RpcError exists only if grpc was imported
            if grpc is None or not isinstance(error, grpc.RpcError):
                raise
            raise TransferError(
                f"the call ended after {self._count} pieces ({self._received} bytes): {_describe(error)}"
            ) from error

    def _write_copy(self, data: memoryview) -> None:
        if self._copy is None or not data:
            return
        try:
            self._copy.write(data)
        except OSError as error:
            raise TransferError(f"writing the data received failed at byte {self._received}: {error}") from None


def _describe(error: Exception) -> str:
    """What went wrong in a gRPC call: its status when the error carries one (a client's call does)."""
    code, details = getattr(error, "code", None), getattr(error, "details", None)
    if callable(code) and callable(details):
        return f"{code().name} ({details()})"
    return "cancelled, or the connection broke"


@contextlib.contextmanager
def _cancelled_on_error(pieces: object) -> Iterator[None]:
    """Cancels a gRPC call (or closes a generator) whose pieces could not be received, so that the sender stops."""
    try:
        yield
    except BaseException:
        stop = getattr(pieces, "cancel", None) or getattr(pieces, "close", None)
        if callable(stop):
            stop()
        raise
