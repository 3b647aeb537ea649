"""Handing heap memory freed by a merge back to the system at once.

glibc keeps freed blocks inside its arenas (several, for threads), returning only what lies at a heap's top. In
a gRPC servicer thread receiving zstd chunks, the records kept were found in glibc's main arena and the message
merged from them in the thread's own: the records freed as they were merged were never reused for the message,
which peaked at 1.9x its size. malloc_trim returns the free pages of every arena. Elsewhere (musl, macOS,
Windows) this does nothing."""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

RELEASE_EVERY = 64 << 20  # bytes freed between trims: each takes a few ms, and memory stays within this of the need


def _load_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_MALLOC_TRIM = _load_malloc_trim()


class Releaser:
    """Counts the bytes a caller has let go of and returns free heap memory to the system every RELEASE_EVERY."""

    def __init__(self, every: int | None = None) -> None:
        self._every, self._freed = RELEASE_EVERY if every is None else every, 0

    def freed(self, count: int) -> None:
        """Notes `count` more bytes dropped; trims the heap once enough have been."""
        self._freed += count
        if self._freed >= self._every:
            self._freed = 0
            release_free_memory()


def release_free_memory() -> bool:
    """Returns the free pages of the C heap to the system; False where the C library offers no way to."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
