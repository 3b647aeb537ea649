"""Where remote bytes come from: one ranged request per call, counted. `http(s)://` URLs use the standard library
(ranged GETs, a suffix range first, which also gives the size); any other URL goes through fsspec (`s3://`,
`gs://`, `memory://`, ...; `pip install 'proto-splitter[remote]'` plus the filesystem's own package)."""

from __future__ import annotations

import http.client
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import ProtoSplitterError

TIMEOUT_SECONDS = 60.0
HTTP_MAX_REQUEST = 16 << 20  # bytes per request at most, by default, over HTTP
FSSPEC_MAX_REQUEST = 8 << 20  # and through fsspec


class RemoteReadError(ProtoSplitterError, OSError):
    """A remote file could not be read (refused, cut off, timed out, or answered with the wrong bytes)."""


class RemoteFileNotFoundError(RemoteReadError, FileNotFoundError):
    """No remote file exists at the URL."""


Data = bytes | bytearray | memoryview


@dataclass
class TransferStats:
    """What a remote file cost: requests made, bytes received, the largest single request, and the most
    fetched bytes held in memory at once."""

    requests: int = 0
    bytes: int = 0
    largest_request: int = 0
    peak_held: int = 0


class RangeStore(Protocol):
    """One remote file read by ranged requests (at most `max_request` bytes each, unless told otherwise)."""

    url: str
    stats: TransferStats
    max_request: int

    def open(self, tail: int) -> tuple[int, bytes]:
        """The file's size and its last `tail` bytes (fewer when the file is smaller)."""

    def fetch(self, start: int, end: int) -> bytes | bytearray:
        """Bytes [start, end) in one request; exactly that many or RemoteReadError. (A store may also offer
        fetch_into(start, out), reading straight into a buffer the caller reuses.)"""

    def close(self) -> None:
        """Releases what the store holds (connections, sessions)."""


class _Counter:
    """Thread-safe request counting into a TransferStats."""

    def __init__(self) -> None:
        self.stats = TransferStats()
        self._lock = threading.Lock()

    def _count(self, received: int) -> None:
        with self._lock:
            self.stats.requests += 1
            self.stats.bytes += received
            self.stats.largest_request = max(self.stats.largest_request, received)


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_UNSATISFIED_RANGE = re.compile(r"bytes \*/(\d+)")


class HttpStore(_Counter):
    """Ranged GETs with urllib, read straight into the caller's buffers. A server that ignores `Range` (answers
    200) is refused at once, before its body is read: reading a whole file to use a part of it would defeat the
    memory bound. `timeout` is the longest wait for the connection or for any bytes of an answer."""

    max_request = HTTP_MAX_REQUEST

    def __init__(self, url: str, headers: Mapping[str, str] | None = None, timeout: float = TIMEOUT_SECONDS):
        super().__init__()
        self.url, self.timeout = url, timeout
        self._headers = dict(headers or {})

    def _get(self, range_header: str, into: memoryview | None) -> tuple[Data, str]:
        """The body of a ranged GET, read into `into` (which it must fill exactly) or fresh memory, and its
        Content-Range."""
        request = urllib.request.Request(self.url, headers={**self._headers, "Range": range_header})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if response.status != 206:
                    raise RemoteReadError(
                        f"{self.url}: the server ignored the range request (HTTP {response.status} instead of "
                        "206): proto-splitter reads remote files by ranges only; download the file first"
                    )
                content_range = response.headers.get("Content-Range", "")
                length = response.headers.get("Content-Length")
                size = int(length) if length is not None and length.isdigit() else None
                if into is None:
                    if size is None:
                        raise RemoteReadError(f"{self.url}: the answer to {range_header} has no Content-Length")
                    into = memoryview(bytearray(size))
                elif size not in (None, len(into)):
                    raise RemoteReadError(f"{self.url}: asked for {len(into)} bytes ({range_header}), got {size}")
                filled = _read_fully(response, into)
        except urllib.error.HTTPError as error:
            error.close()
            unsatisfied = _UNSATISFIED_RANGE.fullmatch(error.headers.get("Content-Range", "") or "")
            if error.code == 416 and unsatisfied and range_header.startswith("bytes=-"):
                return b"", f"bytes */{unsatisfied.group(1)}"  # a suffix range of an empty file
            if error.code in (404, 410):
                raise RemoteFileNotFoundError(f"{self.url}: HTTP {error.code} {error.reason}") from None
            raise RemoteReadError(f"{self.url}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:  # refused, reset,
            # cut off, timed out, or not a URL
            if isinstance(error, RemoteReadError):
                raise
            raise RemoteReadError(f"{self.url}: {range_header}: {describe_error(error)}") from None
        self._count(filled)
        if filled != len(into):
            raise RemoteReadError(
                f"{self.url}: the connection ended after {filled} of {len(into)} bytes ({range_header})"
            )
        return into, content_range

    def open(self, tail: int) -> tuple[int, bytes]:
        data, content_range = self._get(f"bytes=-{tail}", None)
        match = _CONTENT_RANGE.fullmatch(content_range) or _UNSATISFIED_RANGE.fullmatch(content_range)
        if not match:
            raise RemoteReadError(f"{self.url}: no usable Content-Range in the answer ({content_range!r})")
        return int(match.groups()[-1]), bytes(data)

    def fetch(self, start: int, end: int) -> bytearray:
        data = bytearray(end - start)
        self.fetch_into(start, memoryview(data))
        return data

    def fetch_into(self, start: int, out: memoryview) -> None:
        """Bytes [start, start + len(out)) in one request, read straight into `out`."""
        end = start + len(out)
        _, content_range = self._get(f"bytes={start}-{end - 1}", out)
        match = _CONTENT_RANGE.fullmatch(content_range)
        if not match or (int(match.group(1)), int(match.group(2))) != (start, end - 1):
            raise RemoteReadError(f"{self.url}: asked for bytes {start}-{end - 1}, got {content_range!r}")

    def close(self) -> None:
        pass  # urllib opens a connection per request


def _read_fully(response: Any, view: memoryview) -> int:
    """Reads the body into `view` until it is full or the body ends early; the number of bytes read."""
    filled = 0
    while filled < len(view):
        count = response.readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled


def describe_error(error: BaseException) -> str:
    """The error's message (a URLError's reason), or its type's name when it has none."""
    reason = getattr(error, "reason", None)
    return str(reason if reason is not None else error) or type(error).__name__


class FsspecStore(_Counter):
    """Ranged reads through an fsspec filesystem (`fs.cat_file`); `storage_options` go to the filesystem.
    Requests are smaller than over HTTP: the filesystems' clients hold each answer twice while joining it."""

    max_request = FSSPEC_MAX_REQUEST

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None):
        super().__init__()
        self.url = url
        try:
            import fsspec  # type: ignore[import-untyped]
        except ImportError:
            raise RemoteReadError(
                f"{url}: reading this URL needs fsspec (pip install 'proto-splitter[remote]')"
            ) from None
        try:
            self._fs, self._path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        except (ImportError, ValueError, TypeError) as error:
            raise RemoteReadError(f"{url}: {describe_error(error)}") from None

    def open(self, tail: int) -> tuple[int, bytes]:
        try:
            size = self._fs.size(self._path)
        except FileNotFoundError:
            raise RemoteFileNotFoundError(f"{self.url}: no such file") from None
        except Exception as error:  # noqa: BLE001 (each filesystem raises its own kinds; all are read errors here)
            raise RemoteReadError(f"{self.url}: {describe_error(error)}") from None
        self._count(0)
        if size is None:
            raise RemoteReadError(f"{self.url}: the filesystem does not tell the file's size")
        return size, bytes(self.fetch(max(0, size - tail), size)) if size else b""

    def fetch(self, start: int, end: int) -> bytes:
        try:
            data: bytes = self._fs.cat_file(self._path, start=start, end=end)
        except FileNotFoundError:
            raise RemoteFileNotFoundError(f"{self.url}: no such file (bytes {start}-{end - 1})") from None
        except Exception as error:  # noqa: BLE001 (each filesystem raises its own kinds; all are read errors here)
            raise RemoteReadError(f"{self.url}: bytes {start}-{end - 1}: {describe_error(error)}") from None
        self._count(len(data))
        if len(data) != end - start:
            raise RemoteReadError(f"{self.url}: asked for bytes {start}-{end - 1}, got {len(data)} bytes")
        return data

    def close(self) -> None:
        pass  # fsspec caches filesystem instances and their sessions for reuse


def open_store(
    url: str, storage_options: Mapping[str, Any] | None = None, timeout: float = TIMEOUT_SECONDS
) -> RangeStore:
    """The store for a URL: for `http(s)://`, `storage_options` are request headers (as pandas takes them);
    for other URLs, fsspec filesystem options (credentials, endpoint, ...)."""
    if url.startswith(("http://", "https://")):
        headers = dict(storage_options or {})
        bad = [key for key, value in headers.items() if not (isinstance(key, str) and isinstance(value, str))]
        if bad:
            raise RemoteReadError(f"{url}: storage_options for http(s) URLs are request headers (str: str); got {bad}")
        return HttpStore(url, headers, timeout)
    return FsspecStore(url, storage_options)
