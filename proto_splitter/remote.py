"""Remote files as seekable binary file objects built on ranged reads: `http(s)://` URLs (standard library)
and any fsspec URL (`s3://`, `gs://`, `file://`, `memory://`; `pip install 'proto-splitter[remote]'`).

The first request asks for the file's tail with a suffix range, which also reveals the file's size: the
ChunkMetadata (last record) and usually the root chunk (written just before it) arrive in that one request.
Later reads fetch only what is asked for, plus what `prefetch` announced, coalescing neighbouring ranges and
fetching a few of them in parallel. `stats` counts requests and bytes.
"""

from __future__ import annotations

import bisect
import io
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .errors import ProtoSplitterError

TAIL_BYTES = 256 << 10
MIN_REQUEST = 64 << 10
PARALLEL_REQUESTS = 4
TIMEOUT_SECONDS = 60.0


class RemoteReadError(ProtoSplitterError, OSError):
    """A remote file could not be read (missing, refused, or answered with the wrong bytes)."""


@dataclass
class TransferStats:
    """Requests made and bytes received by a remote reader."""

    requests: int = 0
    bytes: int = 0


def is_remote(source) -> bool:
    """True for URL strings with a scheme (http, https, s3, gs, file, memory, ...)."""
    return isinstance(source, str) and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source) is not None


class _Http:
    """Ranged GETs with urllib; a suffix range on the first request gives the size too."""

    def __init__(self, url: str, timeout: float):
        self.url, self.timeout = url, timeout

    def _get(self, range_header: str) -> tuple[bytes, str | None]:
        request = urllib.request.Request(self.url, headers={"Range": range_header})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if response.status != 206:
                    raise RemoteReadError(f"{self.url}: server ignored the range request (HTTP {response.status})")
                return response.read(), response.headers.get("Content-Range")
        except urllib.error.HTTPError as error:
            raise RemoteReadError(f"{self.url}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError) as error:
            raise RemoteReadError(f"{self.url}: {error}") from None

    def tail(self, count: int) -> tuple[int, bytes]:
        data, content_range = self._get(f"bytes=-{count}")
        match = re.match(r"bytes (\d+)-(\d+)/(\d+)", content_range or "")
        if not match:
            raise RemoteReadError(f"{self.url}: no usable Content-Range in the answer ({content_range!r})")
        return int(match.group(3)), data

    def read(self, start: int, end: int) -> bytes:
        return self._get(f"bytes={start}-{end - 1}")[0]


class _Fsspec:
    """Ranged reads through an fsspec filesystem."""

    def __init__(self, url: str):
        try:
            import fsspec
        except ImportError:
            raise RemoteReadError(
                f"{url}: reading this URL needs fsspec (pip install 'proto-splitter[remote]')"
            ) from None
        try:
            self.fs, self.path = fsspec.core.url_to_fs(url)
            self.size = self.fs.size(self.path)
        except (OSError, ValueError) as error:
            raise RemoteReadError(f"{url}: {error}") from None
        self.url = url

    def tail(self, count: int) -> tuple[int, bytes]:
        start = max(0, self.size - count)
        return self.size, self.read(start, self.size)

    def read(self, start: int, end: int) -> bytes:
        try:
            return self.fs.cat_file(self.path, start=start, end=end)
        except OSError as error:
            raise RemoteReadError(f"{self.url}: {error}") from None


class RangedFile(io.RawIOBase):
    """A read-only, seekable binary file over a ranged-read backend, caching what it fetched."""

    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS):
        super().__init__()
        self.url = url
        self.stats = TransferStats()
        self._backend = _Http(url, timeout) if url.startswith(("http://", "https://")) else _Fsspec(url)
        self._lock = threading.Lock()
        self._starts: list[int] = []
        self._pieces: dict[int, bytes] = {}
        self._position = 0
        size, tail = self._backend.tail(TAIL_BYTES)
        self._count(tail)
        self._size = size
        self._store(size - len(tail), tail)

    # ---- cache ------------------------------------------------------------------------------------------

    def _count(self, data: bytes) -> None:
        with self._lock:
            self.stats.requests += 1
            self.stats.bytes += len(data)

    def _store(self, start: int, data: bytes) -> None:
        with self._lock:
            if start not in self._pieces or len(self._pieces[start]) < len(data):
                if start not in self._pieces:
                    bisect.insort(self._starts, start)
                self._pieces[start] = data

    def _missing(self, start: int, end: int) -> list[tuple[int, int]]:
        """Sub-ranges of [start, end) not covered by cached pieces."""
        gaps, cursor = [], start
        with self._lock:
            first = max(0, bisect.bisect_right(self._starts, start) - 1)
            for piece_start in self._starts[first:]:
                if piece_start >= end:
                    break
                piece_end = piece_start + len(self._pieces[piece_start])
                if piece_end <= cursor:
                    continue
                if piece_start > cursor:
                    gaps.append((cursor, piece_start))
                cursor = max(cursor, piece_end)
        if cursor < end:
            gaps.append((cursor, end))
        return gaps

    def _fetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Fetches ranges (already coalesced), several at once."""
        ranges = list(ranges)

        def one(bounds: tuple[int, int]) -> None:
            start, end = bounds
            data = self._backend.read(start, end)
            self._count(data)
            if len(data) != end - start:
                raise RemoteReadError(f"{self.url}: asked for bytes {start}-{end - 1}, got {len(data)} bytes")
            self._store(start, data)

        if len(ranges) == 1:
            one(ranges[0])
        elif ranges:
            with ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS) as pool:
                list(pool.map(one, ranges))

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Fetches the byte ranges [start, end) that will be read soon, coalescing neighbours."""
        gaps = sorted(
            gap
            for start, end in ranges
            for gap in self._missing(max(0, start), min(self._size, end))
            if gap[1] > gap[0]
        )
        merged: list[list[int]] = []
        for start, end in gaps:
            if merged and start - merged[-1][1] <= MIN_REQUEST:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._fetch((start, end) for start, end in merged)

    def _read_range(self, start: int, end: int) -> bytes:
        gaps = self._missing(start, end)
        if gaps:
            self._fetch(
                (gap_start, min(self._size, max(gap_end, gap_start + MIN_REQUEST))) for gap_start, gap_end in gaps
            )
        out = bytearray()
        with self._lock:
            first = max(0, bisect.bisect_right(self._starts, start) - 1)
            cursor = start
            for piece_start in self._starts[first:]:
                if cursor >= end:
                    break
                piece = self._pieces[piece_start]
                piece_end = piece_start + len(piece)
                if piece_end <= cursor or piece_start > cursor:
                    continue
                take = min(end, piece_end)
                out += piece[cursor - piece_start : take - piece_start]
                cursor = take
        if len(out) != end - start:
            raise RemoteReadError(f"{self.url}: could not assemble bytes {start}-{end - 1}")
        return bytes(out)

    # ---- io.RawIOBase ----------------------------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def size(self) -> int:
        return self._size

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        end = min(self._size, self._position + len(view))
        if end <= self._position:
            return 0
        data = self._read_range(self._position, end)
        view[: len(data)] = data
        self._position = end
        return len(data)


def open_remote(url: str, timeout: float = TIMEOUT_SECONDS) -> RangedFile:
    """Opens a remote file for lazy ranged reads."""
    return RangedFile(url, timeout)
