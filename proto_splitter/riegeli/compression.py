"""Compressors of simple chunks: none, brotli ('b'), zstd ('z'), snappy ('s'), with decompressed-size
prefixes as riegeli writes them, and output bounded by the declared size (no decompression bombs)."""

from __future__ import annotations

import brotli
import cramjam
import zstandard

from ..errors import RiegeliError
from .varint import read_varint, varint

NONE, BROTLI, ZSTD, SNAPPY = 0, b"b"[0], b"z"[0], b"s"[0]
NAMES = {NONE: "none", BROTLI: "brotli", ZSTD: "zstd", SNAPPY: "snappy"}


def compress(kind: int, data, level: int | None, window_log: int | None) -> bytes:
    """Compresses data, prefixed with its size as a varint (for any kind but NONE)."""
    return b"".join(compress_parts(kind, data, level, window_log))


def compress_parts(kind: int, data, level: int | None, window_log: int | None) -> list[bytes]:
    """compress's result as the parts to concatenate, for a caller joining them once with the rest of a chunk."""
    if kind == NONE:
        return [bytes(data)]
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


def decompress(kind: int, data, pos: int) -> memoryview:
    """Decompresses a size-prefixed buffer of compression `kind`; pos names the chunk in errors."""
    if kind == NONE:
        return memoryview(data)
    size, start = read_varint(data, 0, pos)
    body = memoryview(data)[start:]  # no copy: a temporary as large as the chunk fragments a thread's heap
    try:
        if kind == BROTLI:
            decoder = brotli.Decompressor()
            out = decoder.process(body, output_buffer_limit=size + 1) if size else decoder.process(body)
        elif kind == ZSTD:
            out = zstandard.ZstdDecompressor().decompress(body, max_output_size=max(size, 1))
        elif kind == SNAPPY:
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
