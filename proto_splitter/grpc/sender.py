"""Sending a message as a stream of pieces (proto_splitter.grpc.v1.Piece): the bytes ps.write would write to a
file, cut into pieces small enough for any gRPC channel, produced by a thread while they are sent."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

from google.protobuf.message import Message

from .. import files, registry, riegeli
from ..errors import ProtoSplitterError
from . import piece_pb2

PIECE_SIZE = 1 << 20  # data per piece: a quarter of gRPC's default limit on a received message (4 MiB)
MIN_PIECE_SIZE = 4096  # the first piece holds the 16-byte Riegeli signature that tells a .cpb from a .pb
DEFAULT_MAX_CHUNK_SIZE = 64 << 20  # messages larger than this are chunked: each side holds a chunk or two at most
TENSORFLOW_COPIES = "proto_splitter.tf."  # the library's wire-compatible copies of TensorFlow's protos


def type_name(message_class: type[Message]) -> str:
    """The full name a stream announces for a message type. The library's copies of TensorFlow's protos
    (`proto_splitter.tf`) announce TensorFlow's names, so that both ends may use either."""
    name: str = message_class.DESCRIPTOR.full_name
    if name.startswith(TENSORFLOW_COPIES):
        return "tensorflow." + name[len(TENSORFLOW_COPIES) :]
    return name


def pieces(
    message: Message,
    max_chunk_size: int | None = DEFAULT_MAX_CHUNK_SIZE,
    options: str | None = None,
    piece_size: int = PIECE_SIZE,
) -> Iterator[piece_pb2.Piece]:
    """Yields `message` as pieces, for a gRPC request or response stream: their data concatenated is the `.cpb`
    (or, when the message fits `max_chunk_size`, the `.pb`) that ps.write would write with these arguments.

    Splitting runs in a thread at most a few pieces ahead; it stops when the iterator is closed or dropped (gRPC
    drops it when the call ends, cancelled or not). `max_chunk_size=None` keeps ps.write's 2 GiB rule."""
    if not isinstance(piece_size, int) or isinstance(piece_size, bool) or piece_size < MIN_PIECE_SIZE:
        raise ProtoSplitterError(f"piece_size must be an integer of at least {MIN_PIECE_SIZE}, got {piece_size!r}")
    files.check_message(message)
    registry.chunk_limit(max_chunk_size)
    riegeli.parse_options(options)
    return _generate(message, max_chunk_size, options, piece_size)


def _generate(
    message: Message, max_chunk_size: int | None, options: str | None, piece_size: int
) -> Iterator[piece_pb2.Piece]:
    header = piece_pb2.Header(message_type=type_name(type(message)))
    with contextlib.closing(files.iter_chunks(message, max_chunk_size, options, piece_size=piece_size)) as chunks:
        data = next(chunks, b"")
        chunked = data.startswith(files.RIEGELI_SIGNATURE)
        header.format = piece_pb2.FORMAT_CHUNKED if chunked else piece_pb2.FORMAT_PLAIN
        piece = _piece(data, 0, chunked)
        piece.header.CopyFrom(header)
        offset = len(data)
        for data in chunks:
            yield piece
            piece = _piece(data, offset, chunked)
            offset += len(data)
        piece.last = True
        yield piece


def _piece(data: bytes, offset: int, chunked: bool) -> piece_pb2.Piece:
    """A piece of data; with a CRC-32 unless the data is a .cpb's, which its Riegeli hashes check."""
    if chunked:
        return piece_pb2.Piece(offset=offset, data=data)
    return piece_pb2.Piece(offset=offset, data=data, crc32=zlib.crc32(data))
