"""Remote files: reading them by bounded ranged requests (`RangedFile`, `open_remote`) and writing to them
atomically (`open_destination`). `http(s)://` URLs are read with the standard library; any other URL (`s3://`,
`gs://`, `memory://`, ...) goes through fsspec (`pip install 'proto-splitter[remote]'` plus the filesystem's
own package), with `storage_options` passed to it. `file://` URLs are local paths.

    with open_remote("s3://bucket/model.cpb", storage_options={"anon": True}) as remote:
        with remote.plan([(0, 4096), (1 << 20, 2 << 20)]) as plan:   # fetched ahead, in this order
            head = remote.read_at(0, 4096)
            plan.release(0)                                           # its bytes may be dropped now
    with open_destination("s3://bucket/model.cpb") as out:            # visible only once complete
        out.file.write(data)
"""

from __future__ import annotations

import os
import re
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from .destination import Destination, LocalDestination, WriteError, open_url_destination, remove_url
from .planning import PlannedRequest, plan_requests
from .ranged_file import PARALLEL, RangedFile, ReadPlan, open_remote
from .stores import (
    FSSPEC_MAX_REQUEST,
    HTTP_MAX_REQUEST,
    TIMEOUT_SECONDS,
    RemoteFileNotFoundError,
    RemoteReadError,
    TransferStats,
)

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_remote(source: object) -> bool:
    """True for URL strings read over the network or through fsspec (any scheme but `file://`)."""
    return isinstance(source, str) and _URL.match(source) is not None and not source.startswith("file://")


def local_path(source: Any) -> Any:
    """The local path of a `file://` URL; any other source unchanged."""
    if not (isinstance(source, str) and source.startswith("file://")):
        return source
    parts = urllib.parse.urlparse(source)
    if parts.netloc not in ("", "localhost"):
        raise RemoteReadError(f"{source}: file:// URLs must name a local file (no host)")
    return urllib.request.url2pathname(parts.path)


def open_destination(
    target: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None, size_hint: int | None = None
) -> Destination:
    """Where to write `target` (a local path, a `file://` URL or an fsspec URL) so that it appears only once
    complete: `destination.file` takes the bytes, `commit()` publishes them, `discard()` leaves nothing.
    `size_hint` (the expected size) sizes the parts of multipart uploads."""
    location: str = local_path(os.fspath(target))
    if is_remote(location):
        return open_url_destination(location, storage_options, size_hint)
    return LocalDestination(location)


def remove(target: str, storage_options: Mapping[str, Any] | None = None) -> None:
    """Deletes the file or object at `target` if it exists."""
    target = local_path(target)
    if is_remote(target):
        remove_url(target, storage_options)
    elif os.path.exists(target):
        os.unlink(target)


__all__ = [
    "FSSPEC_MAX_REQUEST",
    "HTTP_MAX_REQUEST",
    "PARALLEL",
    "TIMEOUT_SECONDS",
    "Destination",
    "PlannedRequest",
    "RangedFile",
    "ReadPlan",
    "RemoteFileNotFoundError",
    "RemoteReadError",
    "TransferStats",
    "WriteError",
    "is_remote",
    "local_path",
    "open_destination",
    "open_remote",
    "plan_requests",
    "remove",
]
