"""Prefetcher: while a reader consumes the records of one chunk, the next chunks are read, hash-verified and
decoded by worker threads (reads and hashing release the GIL, so hashing, the bottleneck of a local read, uses
both cores). Their buffers come from a small pool and go back to it once the reader is past them, because,
chunk after chunk, first touches of fresh memory cost more than the read itself."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

from ..errors import RiegeliError
from .chunk_reader import Chunk, ChunkReader

READ_AHEAD_LIMIT = 64 << 20  # larger chunks are not loaded ahead: memory stays near one chunk
READ_AHEAD_CHUNKS = 2  # chunks loaded ahead at once, each in its own thread


class _Pending:
    """A chunk being loaded ahead: where it begins and ends, and the future giving it (None if too big)."""

    __slots__ = ("begin", "end", "future")

    def __init__(self, begin: int, end: int, future: Future[Chunk | None]):
        self.begin, self.end, self.future = begin, end, future


class Prefetcher:
    """Loads up to READ_AHEAD_CHUNKS chunks ahead of a front-to-back reader, for sources that take concurrent
    positioned reads (for others it does nothing, and the reader loads every chunk itself)."""

    def __init__(self, chunks: ChunkReader):
        self._chunks = chunks
        self._enabled = chunks.source.concurrent_reads
        self._pending: deque[_Pending] = deque()
        self._spares: list[bytearray] = []
        self._executor: ThreadPoolExecutor | None = None

    def take(self, begin: int) -> Chunk | None:
        """The chunk at `begin` if it was loaded ahead (waiting for it; its load's error is raised here), else
        None, and then whatever was loaded ahead is dropped: the reader moved elsewhere."""
        if not self._pending or self._pending[0].begin != begin:
            self._pending.clear()
            return None
        return self._pending.popleft().future.result()

    def schedule(self, begin: int) -> None:
        """Starts loading the chunks from `begin` (where the reader goes next) on, up to READ_AHEAD_CHUNKS
        ahead. Their headers are read here, to know where each next one begins."""
        size = self._chunks.size()
        if not self._enabled or size is None:
            return
        begin = self._pending[-1].end if self._pending else begin
        while len(self._pending) < READ_AHEAD_CHUNKS and begin < size:
            try:
                _, _, end = self._chunks.read_header(begin)
            except RiegeliError:
                return  # the reader meets the damage when it gets there
            if self._executor is None:
                self._executor = ThreadPoolExecutor(READ_AHEAD_CHUNKS, thread_name_prefix="riegeli-read-ahead")
            self._pending.append(_Pending(begin, end, self._executor.submit(self._load, begin)))
            begin = end

    def _load(self, begin: int) -> Chunk | None:
        """In a worker thread: the chunk at `begin` in a pooled buffer, or None when it is too big to load ahead
        (the reader loads it when due)."""
        located = self._chunks.read_header(begin)
        if located[0].data_size > READ_AHEAD_LIMIT:
            return None
        spare = self._take_spare(located[0].data_size)
        chunk = self._chunks.read_chunk(begin, spare, located)
        chunk.spare = spare
        return chunk

    def _take_spare(self, size: int) -> bytearray:
        """A pooled buffer of at least `size` bytes: one handed back if large enough, else a new one."""
        while self._spares:
            spare = self._spares.pop()  # list.pop and append are atomic: the worker threads share the list
            if len(spare) >= size:
                return spare
        return bytearray(size)

    def hand_back(self, chunk: Chunk | None) -> None:
        """The reader is past `chunk`: its pooled buffer may be filled again (the records handed out were copies,
        or views documented as valid only until the next read)."""
        if chunk is not None and chunk.spare is not None and len(self._spares) <= READ_AHEAD_CHUNKS:
            self._spares.append(chunk.spare)

    def clear(self) -> None:
        """Drops the chunks loaded ahead (the reader moved elsewhere)."""
        self._pending.clear()

    def close(self) -> None:
        """Drops everything and waits for the worker threads (they may be reading from the source)."""
        self._pending.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
