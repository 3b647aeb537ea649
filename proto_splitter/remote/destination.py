"""Where written bytes go: a local file or any fsspec URL, streamed, and appearing under its final name only once
the write completed (`commit`); `discard` leaves nothing there. One mechanism per store:

- local paths and `file://` URLs: a temporary file in the same folder, renamed over the final name
  (`os.replace`, atomic on POSIX);
- `s3://` (s3fs): an S3 multipart upload of `part_size` parts, which S3 makes visible only when the upload is
  completed (CompleteMultipartUpload, at commit) and aborts on discard (AbortMultipartUpload); nothing is
  copied (should the store report a failure after completing, as a retried CompleteMultipartUpload can, the
  object is complete although the write raised: never partial);
- any other store (`memory://`, `gs://`, `az://`, ...): the bytes go to a temporary key beside the final one
  (`<name>.<random>.tmp`), moved to the final name at commit (`fs.mv`: a rename where the store has one, else
  a server-side copy and a delete) and deleted on discard. A process killed mid-write can leave that
  temporary key behind, never a partial object under the final name.

Memory stays near one part (`part_size`, the filesystem's write buffer) on top of what the caller holds.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import secrets
from collections.abc import Mapping
from typing import Any, BinaryIO

from .._atomic import AtomicFile
from ..errors import WriteError
from .stores import describe_error

PART_SIZE = 8 << 20  # bytes per uploaded part, by default (S3's minimum is 5 MiB)
MAX_PARTS = 9000  # S3 allows 10,000 parts per upload: parts grow with the expected size to stay below


class Destination:
    """A binary file being written (`file`) that appears under `name` only when `commit()` succeeds;
    `discard()` gives up and leaves nothing under `name`. As a context manager: commit when the block ends
    normally, discard when it raises."""

    name: str
    file: BinaryIO | io.RawIOBase

    def commit(self) -> None:
        """Completes the write: the bytes appear under `name`."""
        raise NotImplementedError

    def discard(self) -> None:
        """Gives up: nothing appears under `name` (what was written so far is deleted)."""
        raise NotImplementedError

    def __enter__(self) -> Destination:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


class LocalDestination(Destination):
    """A local file through the library's atomic writer (_atomic.AtomicFile: a temporary file beside `path`, with
    the mode open() would give it, renamed over `path` at commit)."""

    def __init__(self, path: str) -> None:
        self.name = path
        if os.path.isdir(path):
            raise WriteError(f"cannot write {path!r}: it is a directory")
        try:
            self._atomic = AtomicFile(path)
        except OSError as error:
            raise WriteError(f"cannot write {path!r}: {error.strerror or error}") from None
        self.file = self._atomic.file

    def commit(self) -> None:
        try:
            self._atomic.commit()
        except OSError as error:
            raise WriteError(f"finishing {self.name!r} failed: {error}") from None

    def discard(self) -> None:
        self._atomic.discard()


class _UploadFile(io.RawIOBase):
    """A writable view of an fsspec file whose failures are WriteErrors (stores raise their own kinds)."""

    def __init__(self, file: Any, url: str):
        super().__init__()
        self.raw, self._url = file, url

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        try:
            self.raw.write(data)
        except Exception as error:  # noqa: BLE001 (each filesystem raises its own kinds)
            raise WriteError(f"{self._url}: writing failed: {describe_error(error)}") from None
        return memoryview(data).nbytes


class MultipartDestination(Destination):
    """An S3 multipart upload through s3fs (`autocommit=False`): completed at commit, aborted at discard."""

    def __init__(self, fs: Any, path: str, url: str, part_size: int):
        self.name, self._fs = url, fs
        self._file = _fsspec_call(url, "open", fs.open, path, "wb", autocommit=False, block_size=part_size)
        self.file = _UploadFile(self._file, url)

    def commit(self) -> None:
        try:
            self._file.close()  # uploads the last part
            self._file.commit()  # CompleteMultipartUpload: the object appears
        except Exception as error:  # noqa: BLE001 (s3fs raises several kinds; all mean the upload failed)
            self.discard()
            raise WriteError(f"{self.name}: completing the upload failed: {describe_error(error)}") from None

    def discard(self) -> None:
        with contextlib.suppress(Exception):  # best effort: an incomplete upload is never visible as an object
            self._file.discard()  # AbortMultipartUpload
        _mark_closed(self._file)


class TemporaryKeyDestination(Destination):
    """Writes under a temporary key beside the final one, moved over it at commit (stores without multipart)."""

    def __init__(self, fs: Any, path: str, url: str, part_size: int):
        self.name, self._fs, self._path = url, fs, path
        self._temp = f"{path}.{secrets.token_hex(6)}.tmp"
        self._file = _fsspec_call(url, "open", fs.open, self._temp, "wb", block_size=part_size)
        self.file = _UploadFile(self._file, url)

    def commit(self) -> None:
        try:
            self._file.close()
            self._fs.mv(self._temp, self._path)
        except Exception as error:  # noqa: BLE001 (each filesystem raises its own kinds; all mean it failed)
            self.discard()
            raise WriteError(f"{self.name}: completing the write failed: {describe_error(error)}") from None

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self._file.discard()  # a buffered upload is cancelled before anything is sent
        _mark_closed(self._file)
        with contextlib.suppress(Exception):  # best effort: the final name was never written
            if self._fs.exists(self._temp):
                self._fs.rm(self._temp)


def _mark_closed(file: Any) -> None:
    """Keeps a discarded fsspec file from uploading what it buffered when it is garbage-collected (fsspec's
    buffered files close themselves, and closing means uploading)."""
    with contextlib.suppress(AttributeError):
        file.closed = True


def _fsspec_call(url: str, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 (each filesystem raises its own kinds)
        raise WriteError(f"{url}: cannot {what} for writing: {describe_error(error)}") from None


def part_size_for(size_hint: int | None, part_size: int = PART_SIZE) -> int:
    """Parts big enough that an upload of about `size_hint` bytes needs at most MAX_PARTS of them."""
    if size_hint is None:
        return part_size
    return max(part_size, math.ceil(size_hint / MAX_PARTS))


def _filesystem(url: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    """The fsspec filesystem and path of a URL."""
    try:
        import fsspec  # type: ignore[import-untyped]
    except ImportError:
        raise WriteError(f"{url}: writing this URL needs fsspec (pip install 'proto-splitter[remote]')") from None
    filesystem: tuple[Any, str] = _fsspec_call(
        url, "reach the store", fsspec.core.url_to_fs, url, **dict(storage_options or {})
    )
    return filesystem


def open_url_destination(
    url: str, storage_options: Mapping[str, Any] | None = None, size_hint: int | None = None
) -> Destination:
    """A Destination for an fsspec URL (see the module's docstring for the mechanism of each store)."""
    fs, path = _filesystem(url, storage_options)
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    kind = MultipartDestination if protocols & {"s3", "s3a"} else TemporaryKeyDestination
    return kind(fs, path, url, part_size_for(size_hint))


def remove_url(url: str, storage_options: Mapping[str, Any] | None = None) -> None:
    """Deletes the object at `url` when there is one (a stale sibling of a file just written)."""
    fs, path = _filesystem(url, storage_options)
    try:
        if fs.exists(path):
            fs.rm(path)
    except FileNotFoundError:
        pass
    except Exception as error:  # noqa: BLE001 (each filesystem raises its own kinds)
        raise WriteError(f"{url}: cannot delete the stale file: {describe_error(error)}") from None
