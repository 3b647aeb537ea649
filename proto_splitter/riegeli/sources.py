"""Byte sources a reader can draw from: memory (bytes-like), local paths (positioned reads), objects offering
positioned reads of their own (remote files), seekable file objects, non-seekable streams."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any, BinaryIO, Protocol, cast

from ..errors import RiegeliError

Bytes = bytes | bytearray | memoryview
IOV_MAX = 1000  # buffers per preadv call at most (POSIX systems allow 1024 or more)
Records = tuple[memoryview, list[int]]
"""Records of a chunk: their concatenated values, and where each begins (and the last ends: one more bound)."""


class Source(Protocol):
    """What the readers need of a source of bytes: its size (None for a stream), positioned reads, closing."""

    seekable: bool
    concurrent_reads: bool

    def size(self) -> int | None: ...

    def read(self, pos: int, count: int) -> Bytes: ...

    def read_into(self, pos: int, out: memoryview) -> int: ...

    def readv(self, pos: int, buffers: list[memoryview]) -> int:
        """Fills `buffers` one after the other from `pos` (a scatter read: chunk content between block headers
        in one call); the number of bytes read, fewer only at the end."""
        ...

    def close(self) -> None: ...


class BufferSource:
    """Random access to a bytes-like object or a memory-mapped file (zero-copy slices)."""

    seekable = True
    concurrent_reads = True

    def __init__(self, buffer: Bytes):
        self._view = memoryview(buffer).cast("B")

    def size(self) -> int:
        return len(self._view)

    def read(self, pos: int, count: int) -> memoryview:
        return self._view[pos : pos + count]

    def read_into(self, pos: int, out: memoryview) -> int:
        part = self._view[pos : pos + len(out)]
        out[: len(part)] = part
        return len(part)

    def readv(self, pos: int, buffers: list[memoryview]) -> int:
        return read_each(self.read_into, pos, buffers)

    def close(self) -> None:
        self._view.release()


class _PositionedSource:
    """Random access by positioned reads into the caller's buffer (subclasses supply size and read_into)."""

    seekable = True
    concurrent_reads = False
    _size = 0

    def size(self) -> int:
        return self._size

    def read(self, pos: int, count: int) -> bytes:
        out = bytearray(max(0, min(count, self._size - pos)))
        return bytes(out[: self.read_into(pos, memoryview(out))])

    def read_into(self, pos: int, out: memoryview) -> int:
        raise NotImplementedError

    def readv(self, pos: int, buffers: list[memoryview]) -> int:
        return read_each(self.read_into, pos, buffers)


class FileSource(_PositionedSource):
    """Random access to a seekable binary file object. The file's position when it is handed over is byte 0
    of the records, so a Riegeli file stored after other data reads as itself."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self._base = handle.tell()
        handle.seek(0, os.SEEK_END)
        self._size = handle.tell() - self._base

    def read_into(self, pos: int, out: memoryview) -> int:
        try:
            self._handle.seek(self._base + pos)
            if hasattr(self._handle, "readinto"):
                return _fill(self._handle.readinto, out)
            data = self._handle.read(len(out)) or b""
        except (OSError, ValueError) as error:
            raise RiegeliError(f"reading the file object at byte {pos} failed: {error}") from None
        out[: len(data)] = data
        return len(data)

    def close(self) -> None:
        pass


class PathSource(_PositionedSource):
    """Random access to a local file with positioned reads (os.preadv) straight into the caller's buffer:
    nothing is mapped or cached here, so reading a huge file costs only the records being decoded."""

    concurrent_reads = True

    def __init__(self, path: str | os.PathLike[str]):
        try:
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as error:
            raise RiegeliError(f"cannot open {os.fspath(path)!r}: {error.strerror}") from None
        status = os.fstat(self._fd)
        if stat.S_ISDIR(status.st_mode):
            os.close(self._fd)
            raise RiegeliError(f"cannot read {os.fspath(path)!r}: it is a directory")
        self._size = status.st_size
        self._name = os.fspath(path)

    def read_into(self, pos: int, out: memoryview) -> int:
        filled = 0
        while filled < len(out):
            try:
                count = os.preadv(self._fd, [out[filled:]], pos + filled)
            except OSError as error:
                raise RiegeliError(f"reading {self._name!r} at byte {pos + filled} failed: {error}") from None
            if count <= 0:
                break
            filled += count
        return filled

    def readv(self, pos: int, buffers: list[memoryview]) -> int:
        """One preadv per IOV_MAX buffers; after a short read (rare), the rest one buffer at a time."""
        filled = 0
        for first in range(0, len(buffers), IOV_MAX):
            group = buffers[first : first + IOV_MAX]
            wanted = sum(len(buffer) for buffer in group)
            try:
                count = os.preadv(self._fd, group, pos + filled)
            except OSError as error:
                raise RiegeliError(f"reading {self._name!r} at byte {pos + filled} failed: {error}") from None
            if count < wanted:
                count += read_each(self.read_into, pos + filled + count, _after(group, count))
                if count < wanted:
                    return filled + count
            filled += count
        return filled

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class BorrowedSource(_PositionedSource):
    """Random access through an object offering thread-safe positioned reads of its own: `size()` and
    `read_into(pos, out)` (a remote file). The reader borrows it: closing the reader leaves it open, and several
    readers may share it."""

    concurrent_reads = True

    def __init__(self, target: Any) -> None:
        self._target = target
        self._size = target.size()

    def read_into(self, pos: int, out: memoryview) -> int:
        return int(self._target.read_into(pos, out))

    def readv(self, pos: int, buffers: list[memoryview]) -> int:
        """The target's own scatter read where it has one (a remote file: one lookup per piece it holds)."""
        target_readv = getattr(self._target, "readv", None)
        if callable(target_readv):
            return int(target_readv(pos, buffers))
        return read_each(self.read_into, pos, buffers)

    def close(self) -> None:
        pass


class StreamSource:
    """Sequential access to a non-seekable stream (pipe, socket): reads must follow each other."""

    seekable = False
    concurrent_reads = False

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self._position = 0
        self._peeked = b""

    def size(self) -> None:
        return None

    def at_end(self, pos: int) -> bool:
        """Whether the stream ends at `pos` (which must be the current position)."""
        return not self.peek(1)

    def peek(self, count: int) -> bytes:
        """Up to `count` bytes from the current position, kept to be read again (fewer only at the end)."""
        while len(self._peeked) < count:
            part = self._read_handle(count - len(self._peeked))
            if not part:
                break
            self._peeked += part
        return self._peeked[:count]

    def _take(self, count: int) -> bytes:
        if self._peeked:
            part, self._peeked = self._peeked[:count], self._peeked[count:]
            return part
        return self._read_handle(count)

    def _read_handle(self, count: int) -> bytes:
        try:
            return self._handle.read(count) or b""
        except (OSError, ValueError) as error:
            raise RiegeliError(f"reading the stream after byte {self._position} failed: {error}") from None

    def _skip_to(self, pos: int) -> bool:
        """Reads and drops the bytes up to `pos`; False if the stream ends before."""
        if pos < self._position:
            raise RiegeliError(f"cannot go back to byte {pos} in a non-seekable stream (at byte {self._position})")
        while self._position < pos:
            skipped = self._take(min(pos - self._position, 1 << 20))
            if not skipped:
                return False
            self._position += len(skipped)
        return True

    def read(self, pos: int, count: int) -> bytes:
        if not self._skip_to(pos):
            return b""
        parts, remaining = [], count
        while remaining > 0:
            part = self._take(remaining)
            if not part:
                break
            parts.append(part)
            remaining -= len(part)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self._position += len(data)
        return data

    def read_into(self, pos: int, out: memoryview) -> int:
        """Fills `out` from `pos`: straight from the stream when it has readinto (no intermediate copy)."""
        readinto = getattr(self._handle, "readinto", None)
        if readinto is None:
            data = self.read(pos, len(out))
            out[: len(data)] = data
            return len(data)
        if not self._skip_to(pos):
            return 0
        filled = min(len(out), len(self._peeked))
        out[:filled] = self._peeked[:filled]
        self._peeked = self._peeked[filled:]
        try:
            filled += _fill(readinto, out[filled:])
        except (OSError, ValueError) as error:
            raise RiegeliError(f"reading the stream after byte {self._position + filled} failed: {error}") from None
        self._position += filled
        return filled

    def readv(self, pos: int, buffers: list[memoryview]) -> int:
        return read_each(self.read_into, pos, buffers)

    def close(self) -> None:
        pass


def read_each(read_into: Callable[[int, memoryview], int], pos: int, buffers: list[memoryview]) -> int:
    """A scatter read made of one read_into per buffer, stopping at the first short one; the bytes read."""
    filled = 0
    for buffer in buffers:
        count = read_into(pos + filled, buffer)
        filled += count
        if count < len(buffer):
            break
    return filled


def _after(buffers: list[memoryview], count: int) -> list[memoryview]:
    """What remains of `buffers` once their first `count` bytes are filled."""
    for index, buffer in enumerate(buffers):
        if count < len(buffer):
            return [buffer[count:], *buffers[index + 1 :]]
        count -= len(buffer)
    return []


def _fill(readinto: Callable[[memoryview], int | None], out: memoryview) -> int:
    """Calls readinto until `out` is full or the source ends; returns the number of bytes read."""
    filled = 0
    while filled < len(out):
        count = readinto(out[filled:])
        if not count:
            break
        filled += count
    return filled


def open_source(src: object) -> Source:
    """A source for a path, bytes-like object, positioned reader (`size()`, `read_into(pos, out)`), or binary
    file object."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return BufferSource(src)
    if isinstance(src, (str, os.PathLike)):
        return PathSource(src)
    if callable(getattr(src, "read_into", None)) and callable(getattr(src, "size", None)):
        return BorrowedSource(src)
    if hasattr(src, "read"):
        handle = cast(BinaryIO, src)
        seekable = getattr(handle, "seekable", lambda: False)()
        return FileSource(handle) if seekable else StreamSource(handle)
    raise RiegeliError(f"cannot read Riegeli records from {type(src).__name__}")
