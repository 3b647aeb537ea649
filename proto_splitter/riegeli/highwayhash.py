"""HighwayHash-64, the checksum of Riegeli's block and chunk headers: the AVX2 extension built with the package
(~8x faster) when this CPU runs it, else highwayhash-cffi's portable C."""

from __future__ import annotations

import functools
import struct
from typing import Any, Protocol

from highwayhash._highwayhash import ffi, lib

from .sources import Bytes

try:
    from . import _highwayhash_avx2
except ImportError:  # the optional extension was not built (no compiler, or not x86)
    _highwayhash_avx2 = None  # type: ignore[assignment]  # used only when AVX2_AVAILABLE

RIEGELI_KEY = b"Riegeli/records\nRiegeli/records\n"


@functools.lru_cache(maxsize=8)
def _key_lanes(key: bytes) -> Any:  # a cffi uint64_t[4]
    return ffi.new("uint64_t[4]", struct.unpack("<4Q", key))


def portable_hash64(data: Bytes, key: bytes = RIEGELI_KEY) -> int:
    """HighwayHash-64 of a bytes-like object by highwayhash-cffi (the C call releases the GIL)."""
    return int(lib.HighwayHash64(ffi.from_buffer(data), len(data), _key_lanes(key)))


AVX2_AVAILABLE = _highwayhash_avx2 is not None and _highwayhash_avx2.available()
IMPLEMENTATION = "avx2" if AVX2_AVAILABLE else "portable"


def highway_hash(data: Bytes | list[Bytes]) -> int:
    """HighwayHash-64 with riegeli's key of a bytes-like object, or of the concatenation of a list of them (with AVX2
    never built: a chunk written from its parts is hashed without a copy)."""
    if AVX2_AVAILABLE:
        return _highwayhash_avx2.hash64(data, RIEGELI_KEY)
    return portable_hash64(b"".join(data) if isinstance(data, list) else data)


class Hasher(Protocol):
    """HighwayHash-64 of bytes given in consecutive parts."""

    def update(self, data: Bytes, /) -> None:
        """Hashes the next bytes (not kept: the buffer may be reused at once)."""

    def digest(self) -> int:
        """The hash of all bytes given (once)."""


def streaming_hasher() -> Hasher | None:
    """A Hasher with riegeli's key, or None when the AVX2 extension is not available (the portable library hashes
    whole inputs only: the caller keeps the bytes and calls highway_hash)."""
    return _highwayhash_avx2.Hasher(RIEGELI_KEY) if AVX2_AVAILABLE else None
