"""Reading chunks ahead in a thread: while the merger copies one chunk into the message, the next ones are
read and their hashes verified (HighwayHash and file reads release the GIL), so a local read uses two cores."""
from __future__ import annotations

import queue
import threading
from typing import Callable, ContextManager, Sequence

DEPTH = 4  # chunks held ready at most: bounded memory, enough to keep the merger busy


class ReadAhead:
    """A ChunkSource over `direct` whose get() is served by a thread that loads the chunks in `order` (the
    order the merge asks for them: merger.needed_chunks) with a reader of its own. A request out of that
    order stops the thread, and from then on chunks are read directly."""

    def __init__(self, direct, order: Sequence[int], open_chunks: Callable[[], ContextManager],
                 depth: int = DEPTH):
        self._direct = direct
        self._ready: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(list(order), open_chunks), daemon=True,
                                        name="proto-splitter-readahead")
        self._thread.start()

    def __len__(self) -> int:
        return len(self._direct)

    def chunk_type(self, index: int) -> int:
        return self._direct.chunk_type(index)

    def _run(self, order: list[int], open_chunks) -> None:
        try:
            with open_chunks() as chunks:
                for index in order:
                    if not self._offer((index, chunks.get(index))):
                        return
        except Exception as error:  # noqa: BLE001 (handed to the merger, which raises it in its thread)
            self._offer((None, error))
        self._offer((None, None))  # the end of the order: later requests are read directly

    def _offer(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, index: int):
        if not self._stop.is_set():
            got, value = self._ready.get()
            if isinstance(value, Exception):
                self.close()
                raise value
            if got == index:
                return value
            self.close()
        return self._direct.get(index)

    def close(self) -> None:
        """Stops the thread (it finishes the chunk it is reading) and drops what it read ahead."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._ready.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()
