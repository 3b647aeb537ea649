"""Compressors of simple chunks: none, brotli ('b'), zstd ('z'), snappy ('s'), with decompressed-size
prefixes as riegeli writes them, and output bounded by the declared size (no decompression bombs)."""

from __future__ import annotations

import brotli
import cramjam
import zstandard

from ..errors import RiegeliError
from .sources import Bytes
from .varint import read_varint, varint

NONE, BROTLI, ZSTD, SNAPPY = 0, b"b"[0], b"z"[0], b"s"[0]
# Decompressed sizes are claims a damaged or forged chunk controls: memory is taken at once for a claim the data
# can plausibly make (at most ZSTD_AT_ONCE bytes, or a common compression ratio), else as the data produces it.
ZSTD_AT_ONCE = 64 << 20
ZSTD_PIECE = 4 << 20
PLAUSIBLE_RATIO = 64
SNAPPY_MAX_RATIO = 24  # a snappy copy element yields at most 64 bytes for 3
NAMES = {NONE: "none", BROTLI: "brotli", ZSTD: "zstd", SNAPPY: "snappy"}


def compress(kind: int, data: Bytes, level: int | None, window_log: int | None) -> bytes:
    """Compresses data, prefixed with its size as a varint (for any kind but NONE)."""
    return b"".join(compress_parts(kind, data, level, window_log))


def compress_parts(kind: int, data: Bytes, level: int | None, window_log: int | None) -> list[bytes]:
    """compress's result as the parts to concatenate, for a caller joining them once with the rest of a chunk."""
    if kind == NONE:
        return [bytes(data)]
    body: bytes
    if kind == BROTLI:
        body = brotli.compress(
            bytes(data), quality=6 if level is None else level, lgwin=22 if window_log is None else window_log
        )
    elif kind == ZSTD:
        params = zstandard.ZstdCompressionParameters.from_level(
            3 if level is None else level,
            source_size=len(data),
            **({"window_log": window_log} if window_log is not None else {}),
        )
        body = zstandard.ZstdCompressor(compression_params=params).compress(data)
    else:
        body = bytes(cramjam.snappy.compress_raw(data))
    return [varint(len(data)), body]


def declared_size(kind: int, data: Bytes, pos: int) -> int:
    """The size a buffer of compression `kind` decompresses to by its prefix (its own size when uncompressed)."""
    return len(data) if kind == NONE else read_varint(data, 0, pos)[0]


def decompress(kind: int, data: Bytes, pos: int, limit: int | None = None) -> memoryview:
    """Decompresses a size-prefixed buffer of compression `kind`; pos names the chunk in errors. A size
    prefix above `limit` (what the chunk can hold) is refused before any memory is taken for it."""
    if kind == NONE:
        return memoryview(data)
    size, start = read_varint(data, 0, pos)
    if limit is not None and size > limit:
        raise RiegeliError(f"chunk at byte {pos}: a buffer declares {size} bytes, more than the chunk can hold")
    body = memoryview(data)[start:]  # no copy: a temporary as large as the chunk fragments a thread's heap
    try:
        if kind == BROTLI:
            decoder = brotli.Decompressor()
            out = decoder.process(body, output_buffer_limit=size + 1) if size else decoder.process(body)
        elif kind == ZSTD:
            out = _zstd(body, size, pos)
        elif kind == SNAPPY:
            if size > SNAPPY_MAX_RATIO * len(body) or read_varint(body, 0, pos)[0] != size:
                raise RiegeliError(f"chunk at byte {pos}: a snappy buffer cannot hold the {size} bytes it declares")
            out = bytes(cramjam.snappy.decompress_raw(body))
        else:
            raise RiegeliError(f"unknown compression type {kind:#x} in the chunk at byte {pos}")
    except RiegeliError:
        raise
    except Exception as error:  # noqa: BLE001 (each codec has its own error type)
        raise RiegeliError(f"cannot decompress the chunk at byte {pos} ({NAMES.get(kind)}): {error}") from None
    if len(out) != size:
        raise RiegeliError(f"chunk at byte {pos} decompresses to {len(out)} bytes, its header says {size}")
    return memoryview(out)


def _zstd(body: Bytes, size: int, pos: int) -> bytes:
    """A zstd frame that must decompress to `size` bytes; a size beyond what its data plausibly holds is
    decompressed piece by piece (and stops one byte past the size), so memory follows the real output."""
    if zstandard.frame_content_size(body) not in (-1, size):  # zstd takes the memory its frame header says
        raise RiegeliError(f"chunk at byte {pos}: a zstd frame's size does not match its prefix ({size})")
    if size <= max(ZSTD_AT_ONCE, PLAUSIBLE_RATIO * len(body)):
        return zstandard.ZstdDecompressor().decompress(body, max_output_size=max(size, 1))
    reader = zstandard.ZstdDecompressor().stream_reader(body)
    pieces, got = [], 0
    while got <= size and (piece := reader.read(min(size + 1 - got, ZSTD_PIECE))):
        pieces.append(piece)
        got += len(piece)
    return b"".join(pieces)
