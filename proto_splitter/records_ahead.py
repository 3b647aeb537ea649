"""Records read ahead by threads in the order a consumer is expected to ask for them, a few at a time: pstf's
`tensors()` has the values of the constants read (the file's bytes copied and hashed, the GIL released) while it
is still finding their nodes. A record asked for out of that order is the caller's to read: nothing is wrong,
only nothing was read ahead for it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor, Future

from .records import RecordAccess


class RecordsAhead:
    """Whole records of `records` in `order` read ahead by `pool`: `depth` records at least, more while they hold
    at most `budget` bytes (a consumer busy with something else finds them read)."""

    def __init__(self, records: RecordAccess, order: Sequence[int], pool: Executor, depth: int, budget: int = 0):
        self._records, self._order, self._pool = records, list(order), pool
        self._depth, self._budget = max(1, depth), budget
        self._place = {chunk: place for place, chunk in enumerate(self._order)}
        self._next = 0  # the place in the order of the next record to submit
        self._pending: deque[tuple[int, Future[memoryview]]] = deque()
        self._pending_bytes = 0
        self._fill()

    def take(self, chunk: int) -> memoryview | None:
        """The bytes of record `chunk`, checked, when it lies ahead in the order (the records before it are
        dropped, and reading goes on from it); None when it does not (the caller reads it)."""
        place = self._place.get(chunk)
        if place is None or place < self._next - len(self._pending):
            return None
        while self._pending and self._pending[0][0] != chunk:
            self._pop().cancel()
        if not self._pending:  # beyond what was submitted: reading goes on from it
            self._next = place
            self._fill()
        future = self._pop()
        self._fill()
        return future.result()

    def close(self) -> None:
        """Drops what was read ahead and not taken (a record being read is finished, then dropped)."""
        while self._pending:
            self._pop().cancel()
        self._next = len(self._order)

    def _fill(self) -> None:
        while self._next < len(self._order):
            chunk = self._order[self._next]
            size = self._records.size(chunk)
            if len(self._pending) >= self._depth and self._pending_bytes + size > self._budget:
                return
            self._pending.append((chunk, self._pool.submit(self._read, chunk)))
            self._pending_bytes += size
            self._next += 1

    def _pop(self) -> Future[memoryview]:
        """The first record pending, out of the window."""
        chunk, future = self._pending.popleft()
        self._pending_bytes -= self._records.size(chunk)
        return future

    def _read(self, chunk: int) -> memoryview:
        return self._records.read(chunk, 0, self._records.size(chunk))
