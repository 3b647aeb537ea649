"""Files that appear under their final name only once complete: written under a temporary name in the same folder,
then renamed over the final name (a rename within one file system is atomic).

The one helper behind every file the library writes: the Riegeli writer (`.cpb`, any records file), `.pb` files
and the CLI's outputs. It knows nothing of Riegeli or splitting, so the codec can use it without depending on the
rest of the library. The temporary file is created with mode 0o666 and the kernel applies the process's umask, as
`open(path, "wb")` would: every output gets the same, ordinary mode, and the umask is never read (reading it means
setting it, which races with other threads)."""

from __future__ import annotations

import contextlib
import os
import secrets
from types import TracebackType
from typing import BinaryIO

_ATTEMPTS = 100  # random temporary names tried before giving up (a collision is already unlikely)


class AtomicFile:
    """A binary file written under a temporary name beside `path`: `commit()` moves it to `path`, `discard()`
    deletes it, leaving `path` as it was. As a context manager: commit on success, discard on an exception.

    Raises OSError when the temporary file cannot be created (missing folder, no permission)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.file: BinaryIO
        self._temporary: str | None = None
        folder, name = os.path.split(os.path.abspath(self.path))
        for _ in range(_ATTEMPTS):
            temporary = os.path.join(folder, f"{name}.{secrets.token_hex(4)}.tmp")
            try:
                handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            except FileExistsError:
                continue
            self._temporary = temporary
            self.file = os.fdopen(handle, "wb")
            return
        raise FileExistsError(f"no free temporary name for {self.path!r} after {_ATTEMPTS} attempts")

    @property
    def temporary(self) -> str:
        """Where the file is while it is written (to read it back before it is committed)."""
        if self._temporary is None:
            raise ValueError(f"{self.path!r} was already committed or discarded")
        return self._temporary

    def commit(self) -> None:
        """Closes the file and moves it under its final name (replacing a file there). On failure the temporary
        file is deleted and the error raised."""
        if self._temporary is None:
            raise ValueError(f"{self.path!r} was already committed or discarded")
        try:
            self.file.close()
            os.replace(self._temporary, self.path)
        except BaseException:
            self.discard()
            raise
        self._temporary = None

    def discard(self) -> None:
        """Closes and deletes the temporary file; the final name is left untouched. Does nothing when done."""
        if self._temporary is None:
            return
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._temporary)
        self._temporary = None

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def write_bytes(path: str | os.PathLike[str], data: bytes | bytearray | memoryview) -> None:
    """Writes `data` to `path` atomically (see AtomicFile); raises OSError when it cannot."""
    with AtomicFile(path) as out:
        out.file.write(data)
