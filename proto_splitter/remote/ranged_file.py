"""RangedFile: a remote file read by ranged requests, with memory and requests bounded.

Opening it fetches the file's tail with one request (the ChunkMetadata, the last record, and usually the root
chunk written just before it), which stays in memory, as do the first 64 KiB once read (every reader checks
the file signature there). A reader that knows what it will read announces it with `plan(ranges)`: the ranges
become requests of at most `max_request` bytes (neighbours fetched together), sent a few at a time ahead of
the reader, within a window of `parallel * max_request` bytes. `ReadPlan.release(i)` says range i has been
read: a request's bytes are dropped as soon as every range it carries is released, and the window slides on
(buffers are reused where the store can fill them). Reads outside any plan fetch what they miss (at least
64 KiB, doubling while the misses follow each other, up to `max_request`) and keep the last two such pieces; a
plan does not fetch again what is held. Fetched bytes held at once stay below (parallel + readers) *
max_request plus the pieces kept, readers being the threads reading at the same time (each may need a request
the window has not reached yet). Positioned reads (`read_into`, `read_at`) are safe from several threads at
once; `stats` counts requests and bytes.
"""

from __future__ import annotations

import bisect
import io
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Any

from ..errors import ProtoSplitterError
from ..riegeli.sources import read_each
from .planning import plan_requests
from .stores import TIMEOUT_SECONDS, RangeStore, RemoteReadError, TransferStats, open_store

PARALLEL = 4  # requests in flight at once, by default; the window is PARALLEL * max_request bytes
TAIL_BYTES = 768 << 10  # the first request: the file's last 768 KiB (the metadata, and a root chunk to ~700 KiB)
MIN_REQUEST = 64 << 10  # a read outside a plan fetches at least this; planned ranges this close are merged
RECENT_PIECES = 2  # pieces fetched outside a plan that are kept for the next reads

Data = bytes | bytearray | memoryview


class _Fetch:
    """One planned request: its byte range, its future once sent, how many of the ranges it carries are not
    released yet, the reused buffer it fills (if any) and how many readers are copying from it."""

    __slots__ = ("buffer", "dropped", "end", "future", "readers", "start", "waiting")

    def __init__(self, start: int, end: int, waiting: int):
        self.start, self.end, self.waiting = start, end, waiting
        self.future: Future[Data] | None = None
        self.dropped = False
        self.buffer: bytearray | None = None
        self.readers = 0

    @property
    def size(self) -> int:
        return self.end - self.start


class ReadPlan:
    """Byte ranges announced by a reader, in the order it will read them, being fetched ahead. Call
    `release(i)` once range i has been read (its bytes may then be dropped); closing the plan drops what is left.
    A context manager."""

    def __init__(self, owner: RangedFile, fetches: list[_Fetch], carriers: list[list[_Fetch]]):
        self._owner = owner
        self.fetches = fetches  # in the order they are sent
        self.carriers = carriers  # per range: the fetches carrying its bytes
        self.released = [False] * len(carriers)
        self.next_fetch = 0  # the next fetch to send, in order
        self.by_start = sorted(fetches, key=lambda fetch: fetch.start)
        self.starts = [fetch.start for fetch in self.by_start]

    def release(self, index: int) -> None:
        """Range `index` (of the planned ranges) has been read."""
        self._owner._release(self, index)

    def close(self) -> None:
        """Drops every fetched byte of this plan and sends nothing more for it."""
        self._owner._close_plan(self)

    def __enter__(self) -> ReadPlan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RangedFile(io.RawIOBase):
    """A read-only, seekable binary file over ranged requests (`http(s)://` with the standard library, any other
    URL through fsspec with `storage_options`). `max_request` caps every request (by default the store's:
    16 MiB over HTTP, 8 MiB through fsspec, whose clients hold each answer twice while they join it);
    `parallel` requests at most are in flight; `timeout` (HTTP) is the longest wait for a connection or for
    bytes. A context manager: close it (or use `with`) to stop its threads and drop what it holds."""

    def __init__(
        self,
        url: str,
        *,
        storage_options: Mapping[str, Any] | None = None,
        max_request: int | None = None,
        parallel: int = PARALLEL,
        timeout: float = TIMEOUT_SECONDS,
    ):
        super().__init__()
        for name, value in (("max_request", 1 if max_request is None else max_request), ("parallel", parallel)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ProtoSplitterError(f"{name} must be a positive integer, got {value!r}")
        self.url = url
        self._parallel = parallel
        self._lock = threading.RLock()  # re-entered when cancelling a future runs its done callback
        self._plans: list[ReadPlan] = []
        self._live: list[_Fetch] = []  # sent and not dropped
        self._held = 0  # bytes of the live fetches
        self._recent: list[tuple[int, Data]] = []  # pieces fetched outside a plan, the latest last
        self._spares: list[bytearray] = []  # buffers of dropped fetches, for the next ones
        self._pinned: list[tuple[int, Data]] = []  # the tail, and the head once read: kept until closing
        self._sequential_end, self._sequential_size = -1, 0
        self._pool: ThreadPoolExecutor | None = None
        self._position = 0
        try:
            self._store: RangeStore = open_store(url, storage_options, timeout)
        except BaseException:
            super().close()  # nothing to release yet; marked closed so that finalizing it does nothing
            raise
        self.stats: TransferStats = self._store.stats
        self._max_request = max_request or self._store.max_request
        self._window = parallel * self._max_request
        try:
            self._size, tail = self._store.open(min(TAIL_BYTES, self._max_request))
        except BaseException:
            self._store.close()
            super().close()
            raise
        self._tail_start = self._size - len(tail)
        self._pinned.append((self._tail_start, tail))

    # ---- positioned reads (thread-safe) ---------------------------------------------------------------------

    def size(self) -> int:
        """The file's size in bytes."""
        return self._size

    @property
    def max_request(self) -> int:
        """The largest request this file makes, in bytes."""
        return self._max_request

    @property
    def held(self) -> int:
        """Bytes that read plans hold now (fetched or being fetched; not the pieces kept from reads outside
        plans, nor the tail and head)."""
        with self._lock:
            return self._held

    def read_at(self, position: int, count: int) -> bytes:
        """Up to `count` bytes from `position` (fewer only at the end of the file)."""
        out = bytearray(max(0, min(count, self._size - position)))
        return bytes(out[: self.read_into(position, memoryview(out))])

    def read_into(self, position: int, out: Any) -> int:
        """Fills the writable buffer `out` from `position`; the number of bytes read (fewer only at the end)."""
        return self.readv(position, [out])

    def readv(self, position: int, buffers: Sequence[Any]) -> int:
        """Fills the writable `buffers` one after the other from `position` (a scatter read: each piece held is
        looked up once, however many buffers it fills); the number of bytes read (fewer only at the end)."""
        self._check_open()
        if position < 0:
            raise RemoteReadError(f"{self.url}: negative position {position}")
        views = [memoryview(buffer).cast("B") for buffer in buffers]
        end = min(self._size, position + sum(len(view) for view in views))
        if end - position > self._max_request:
            if len(views) == 1:
                return self._read_planned(position, views[0][: end - position])
            return read_each(self.read_into, position, views)
        cursor, index, offset = position, 0, 0  # the next byte, the buffer it goes to, and where in that buffer
        while cursor < end:
            start, data, fetch = self._piece_at(cursor, end)
            try:
                piece, stop = memoryview(data), min(end, start + len(data))
                while cursor < stop:
                    view = views[index]
                    take = min(stop - cursor, len(view) - offset)
                    view[offset : offset + take] = piece[cursor - start : cursor - start + take]
                    cursor, offset = cursor + take, offset + take
                    if offset == len(view):
                        index, offset = index + 1, 0
            finally:
                if fetch is not None:
                    self._done_reading(fetch)
        return max(0, end - position)

    def _read_planned(self, position: int, view: memoryview) -> int:
        """A read larger than one request: planned in request-sized ranges, each dropped once copied."""
        end = position + len(view)
        ranges = [(start, min(end, start + self._max_request)) for start in range(position, end, self._max_request)]
        with self.plan(ranges) as plan:
            for index, (start, stop) in enumerate(ranges):
                self.read_into(start, view[start - position : stop - position])
                plan.release(index)
        return len(view)

    def _piece_at(self, cursor: int, end: int) -> tuple[int, Data, _Fetch | None]:
        """A piece of data holding byte `cursor`, as (its start, its bytes, the planned fetch it belongs to): the
        tail or head, a planned fetch (waiting for it, sending it now if it was not yet), a recent piece, or a
        new request. A planned fetch counts the caller among its readers until _done_reading()."""
        with self._lock:
            for start, data in self._pinned:
                if start <= cursor < start + len(data):
                    return start, data, None
            fetch = self._live_fetch_at(cursor)
            if fetch is None:
                for start, data in reversed(self._recent):
                    if start <= cursor < start + len(data):
                        return start, data, None
                fetch = self._planned_fetch_at(cursor)
            future = fetch.future if fetch is not None else None
            if fetch is not None and future is not None:
                fetch.readers += 1
        if fetch is None or future is None:
            return (*self._fetch_missing(cursor, end), None)
        try:
            return fetch.start, future.result(), fetch
        except CancelledError:  # released by the plan's reader, or the plan closed, before it was sent
            self._done_reading(fetch)
            self._check_open()
            return (*self._fetch_missing(cursor, end), None)
        except BaseException:
            self._done_reading(fetch)
            raise

    def _done_reading(self, fetch: _Fetch) -> None:
        """A reader has copied what it needed from `fetch`: its buffer may be reused once dropped."""
        with self._lock:
            fetch.readers -= 1
            self._recycle(fetch)

    def _live_fetch_at(self, cursor: int) -> _Fetch | None:
        for fetch in self._live:
            if fetch.start <= cursor < fetch.end:
                return fetch
        return None

    def _planned_fetch_at(self, cursor: int) -> _Fetch | None:
        """A planned fetch not sent yet that holds `cursor`, sent now (the reader needs it before the window
        reaches it)."""
        for plan in self._plans:
            first = bisect.bisect_left(plan.starts, cursor - self._max_request + 1)
            for fetch in plan.by_start[first:]:
                if fetch.start > cursor:
                    break
                if cursor < fetch.end and fetch.future is None and not fetch.dropped:
                    self._send(fetch)
                    return fetch
        return None

    def _fetch_missing(self, cursor: int, end: int) -> tuple[int, Data]:
        """Fetches a piece from `cursor` that no plan holds: at least MIN_REQUEST, twice the last one when the
        reads follow each other, at most `max_request`; keeps it among the recent pieces."""
        with self._lock:
            size = max(end - cursor, MIN_REQUEST)
            if cursor == self._sequential_end:
                size = max(size, 2 * self._sequential_size)
            stop = min(self._tail_start, cursor + min(size, self._max_request))
        data = self._store.fetch(cursor, stop)
        with self._lock:
            self._sequential_end, self._sequential_size = stop, stop - cursor
            self._recent = [*self._recent[1 - RECENT_PIECES :], (cursor, data)]
            if cursor == 0 and len(self._pinned) == 1:
                self._pinned.append((0, bytes(data[:MIN_REQUEST])))
            self._note_held()
        return cursor, data

    # ---- plans -----------------------------------------------------------------------------------------------

    def plan(self, ranges: Iterable[tuple[int, int]]) -> ReadPlan:
        """Announces the byte ranges [start, end) a reader will read, in that order, and starts fetching them
        ahead (bytes held already are not fetched again)."""
        self._check_open()
        ranges = list(ranges)
        with self._lock:
            held = sorted((start, start + len(data)) for start, data in self._pinned + self._recent)
            parts = [
                (part, index)
                for index, (start, end) in enumerate(ranges)
                for part in _gaps(max(0, start), min(end, self._size), held)
            ]
            requests = plan_requests([part for part, _ in parts], self._max_request, MIN_REQUEST)
            fetches = []
            carriers: list[list[_Fetch]] = [[] for _ in ranges]
            for request in requests:
                carried = sorted({parts[entry][1] for entry in request.entries})
                fetches.append(_Fetch(request.start, request.end, len(carried)))
                for index in carried:
                    carriers[index].append(fetches[-1])
            plan = ReadPlan(self, fetches, carriers)
            self._plans.append(plan)
            self._pump()
        return plan

    def _release(self, plan: ReadPlan, index: int) -> None:
        with self._lock:
            if plan.released[index]:
                return
            plan.released[index] = True
            for fetch in plan.carriers[index]:
                fetch.waiting -= 1
                if fetch.waiting == 0:
                    self._drop(fetch)
            self._pump()

    def _close_plan(self, plan: ReadPlan) -> None:
        with self._lock:
            if plan in self._plans:
                self._plans.remove(plan)
            for fetch in plan.fetches:
                self._drop(fetch)
            self._pump()

    def _pump(self) -> None:
        """Sends planned fetches, in plan order, while the window has room (one at least when none is live)."""
        for plan in self._plans:
            while plan.next_fetch < len(plan.fetches):
                fetch = plan.fetches[plan.next_fetch]
                if fetch.future is None and not fetch.dropped:
                    if self._held and self._held + fetch.size > self._window:
                        return
                    self._send(fetch)
                plan.next_fetch += 1

    def _send(self, fetch: _Fetch) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._parallel, thread_name_prefix="proto-splitter-fetch")
        fetch_into = getattr(self._store, "fetch_into", None)
        if fetch_into is not None and fetch.size * 4 >= self._max_request:
            fetch.buffer = self._spares.pop() if self._spares else bytearray(self._max_request)
            fetch.future = self._pool.submit(_filled, fetch_into, fetch.start, memoryview(fetch.buffer)[: fetch.size])
            fetch.future.add_done_callback(lambda _: self._recycle_when_dropped(fetch))
        else:
            fetch.future = self._pool.submit(self._store.fetch, fetch.start, fetch.end)
        self._live.append(fetch)
        self._held += fetch.size
        self._note_held()

    def _drop(self, fetch: _Fetch) -> None:
        """Forgets a fetch: cancelled if not started; its bytes are freed, or its buffer reused, once no reader
        holds them."""
        if fetch.dropped:
            return
        fetch.dropped = True
        if fetch.future is not None:
            fetch.future.cancel()
            self._recycle(fetch)
            fetch.future = None
            self._live.remove(fetch)
            self._held -= fetch.size

    def _recycle_when_dropped(self, fetch: _Fetch) -> None:
        with self._lock:
            self._recycle(fetch)

    def _recycle(self, fetch: _Fetch) -> None:
        """Takes back the buffer of a dropped fetch that is no longer written (done or cancelled) nor read (first
        touches of fresh memory cost more than the transfer on some machines). Called with the lock held."""
        future = fetch.future
        if fetch.buffer is None or not fetch.dropped or fetch.readers or (future is not None and not future.done()):
            return
        if len(self._spares) < self._parallel + 2:
            self._spares.append(fetch.buffer)
        fetch.buffer = None

    def _note_held(self) -> None:
        self.stats.peak_held = max(self.stats.peak_held, self._held + sum(len(data) for _, data in self._recent))

    # ---- io.RawIOBase ------------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"I/O operation on a closed remote file ({self.url})")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        """Reads at the file object's position (one reader at a time; use read_into from several threads)."""
        count = self.read_into(self._position, buffer)
        self._position += count
        return count

    def readall(self) -> bytes:
        data = bytearray(max(0, self._size - self._position))
        self._position += self.read_into(self._position, data)
        return bytes(data)

    def close(self) -> None:
        """Stops fetching (requests under way finish first), drops every piece and closes the store."""
        if self.closed:
            return
        with self._lock:
            plans = list(self._plans)
        for plan in plans:
            plan.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._recent, self._pinned, self._spares = [], [], []
        self._store.close()
        super().close()


def _filled(fetch_into: Any, start: int, out: memoryview) -> memoryview:
    """Runs a store's fetch_into and gives the buffer it filled."""
    fetch_into(start, out)
    return out


def _gaps(start: int, end: int, held: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of [start, end) outside the `held` ranges (sorted by start)."""
    gaps, cursor = [], start
    for held_start, held_end in held:
        if held_end <= cursor or held_start >= end:
            continue
        if held_start > cursor:
            gaps.append((cursor, held_start))
        cursor = max(cursor, held_end)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


def open_remote(
    url: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    max_request: int | None = None,
    parallel: int = PARALLEL,
    timeout: float = TIMEOUT_SECONDS,
) -> RangedFile:
    """Opens a remote file for ranged reads (one request: its tail). Close it, or use it in a `with` block."""
    return RangedFile(url, storage_options=storage_options, max_request=max_request, parallel=parallel, timeout=timeout)
