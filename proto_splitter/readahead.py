"""Reading chunks ahead in threads: while the merger copies one chunk into the message, the next ones are read
and their hashes verified by worker threads (HighwayHash and file reads release the GIL), so a local read
uses every core; hashing, not the disk or the merge, is what limits a read otherwise."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

WORKERS = max(1, min(2, os.cpu_count() or 1))  # one more barely helps: the merger needs a core too
DEPTH = 2  # chunks each worker holds ready at most: memory stays near (WORKERS * (DEPTH + 1)) chunks


class ReadAhead:
    """A ChunkSource over `direct` whose get() is served by worker threads loading the chunks in `order` (the
    order the merge asks for them: merger.needed_chunks), worker k taking every WORKERS-th chunk from the k-th,
    each with a reader of its own. A request out of that order stops them; from then on chunks are read
    directly."""

    def __init__(
        self,
        direct,
        order: Sequence[int],
        open_chunks: Callable[[], AbstractContextManager],
        workers: int = WORKERS,
        depth: int = DEPTH,
    ):
        self._direct = direct
        self._order = list(order)
        self._next = 0  # position in the order of the next chunk the merger should ask for
        self._stop = threading.Event()
        count = max(1, min(workers, len(self._order)))
        self._queues = [queue.Queue(depth) for _ in range(count)]
        self._threads = [
            threading.Thread(
                target=self._run,
                args=(self._order[k::count], self._queues[k], open_chunks),
                daemon=True,
                name=f"proto-splitter-readahead-{k}",
            )
            for k in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def __len__(self) -> int:
        return len(self._direct)

    def chunk_type(self, index: int) -> int:
        return self._direct.chunk_type(index)

    def _run(self, share: list[int], ready: queue.Queue, open_chunks) -> None:
        try:
            with open_chunks() as chunks:
                for index in share:
                    if not self._offer(ready, (index, chunks.get(index))):
                        return
        except Exception as error:  # noqa: BLE001 (handed to the consumer, which re-raises it)
            self._offer(ready, (None, error))

    def _offer(self, ready: queue.Queue, item) -> bool:
        while not self._stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, index: int):
        if not self._stop.is_set() and self._next < len(self._order):
            got, value = self._queues[self._next % len(self._queues)].get()
            self._next += 1
            if isinstance(value, Exception):
                self.close()
                raise value
            if got == index:
                return value
            self.close()
        return self._direct.get(index)

    def close(self) -> None:
        """Stops the workers (each finishes the chunk it is reading) and drops what they read ahead."""
        self._stop.set()
        for ready, thread in zip(self._queues, self._threads, strict=False):
            while thread.is_alive():
                with contextlib.suppress(queue.Empty):
                    ready.get(timeout=0.05)
            thread.join()
