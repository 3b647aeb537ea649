"""Files named on the command line, opened for positioned reads: a local path, a prefix (`model` finds model.cpb,
then model.pb), or a URL (`https://`, `s3://`, `gs://`, `memory://`, `file://`; `--storage-options` go to
fsspec, or are request headers for http(s)). Remote files are read by bounded ranged requests."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .. import files, remote, riegeli
from ..riegeli.sources import BorrowedSource, PathSource
from .common import CliError


class InputFile:
    """A `.cpb` / `.pb` file or URL opened for reading, itself a positioned reader (`size()`, `read_into(pos,
    out)`), so a RecordReader can share it. `name` is the file found (path or URL); `chunked` says whether it
    is a `.cpb` (a `.cpb` whose signature is damaged counts as one, so that verify can say so). A context
    manager."""

    def __init__(self, name: str, storage_options: Mapping[str, Any] | None = None):
        name = remote.local_path(name)
        self._ranged: remote.RangedFile | None = None
        self._source: BorrowedSource | PathSource
        if remote.is_remote(name):
            self._ranged = files.open_url(name, storage_options)
            self.name, self._source = self._ranged.url, BorrowedSource(self._ranged)
        else:
            self.name, _ = files.resolve(name)
            self._source = PathSource(self.name)
        try:
            head = self.read_at(0, len(files.RIEGELI_SIGNATURE))
        except BaseException:
            self.close()
            raise
        self.chunked = head == files.RIEGELI_SIGNATURE or self.name.endswith(".cpb")

    def __enter__(self) -> InputFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._source.close()
        if self._ranged is not None:
            self._ranged.close()

    def size(self) -> int:
        return self._source.size()

    def read_into(self, position: int, out: memoryview) -> int:
        return self._source.read_into(position, out)

    def read_at(self, position: int, count: int) -> bytes:
        """Up to `count` bytes from `position` (fewer only at the end)."""
        return bytes(self._source.read(position, count))

    @contextlib.contextmanager
    def ahead(self, ranges: Iterable[tuple[int, int]]) -> Iterator[None]:
        """Fetches these byte ranges ahead, together, while the block runs (remote files; nothing locally)."""
        if self._ranged is None:
            yield
            return
        with self._ranged.plan(list(ranges)):
            yield

    @contextlib.contextmanager
    def front_to_back(self) -> Iterator[Callable[[int], None]]:
        """For reading the whole file in order: remote bytes are fetched ahead, and the callable given to the
        block, called with a position, drops what lies before it. Locally, nothing to do."""
        if self._ranged is None:
            yield lambda position: None
            return
        step = self._ranged.max_request
        ranges = [(start, min(start + step, self.size())) for start in range(0, self.size(), step)]
        released = 0

        with self._ranged.plan(ranges) as plan:

            def done_before(position: int) -> None:
                nonlocal released
                while released < len(ranges) and ranges[released][1] <= position:
                    plan.release(released)
                    released += 1

            yield done_before


def storage_options_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage-options",
        metavar="JSON",
        type=_json_object,
        default=None,
        help="for URLs: options of the fsspec filesystem as a JSON object (s3://, gs://: credentials, "
        "endpoint_url, ...; e.g. '{\"anon\": true}'), or request headers for http(s)://",
    )


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object ({...})")
    return value


def open_input(args: argparse.Namespace, name: str) -> InputFile:
    """The InputFile for a command's FILE argument, with its --storage-options."""
    try:
        return InputFile(name, getattr(args, "storage_options", None))
    except riegeli.RiegeliError as error:  # a local file that cannot be opened
        raise CliError(str(error)) from None
