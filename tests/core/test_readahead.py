"""ReadAhead: chunks come back in the merge's order from worker threads; anything else is read directly."""

from __future__ import annotations

import contextlib
import threading

import pytest

from proto_splitter.readahead import ReadAhead


class Chunks:
    """A chunk source whose chunk i is b"chunk i", counting who read what; `broken` raises on that index."""

    def __init__(self, count: int, broken: int | None = None):
        self.count, self.broken = count, broken
        self.read: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return self.count

    def chunk_type(self, index: int) -> int:
        return 0

    def get(self, index: int) -> bytes:
        if index == self.broken:
            raise ValueError(f"chunk {index} is damaged")
        with self.lock:
            self.read.append((threading.current_thread().name, index))
        return b"chunk %d" % index

    @contextlib.contextmanager
    def opened(self):
        yield self


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_chunks_in_order_come_from_the_workers(workers):
    source = Chunks(10)
    order = [3, 1, 4, 0, 5, 9, 2, 6, 8, 7]
    ahead = ReadAhead(source, order, source.opened, workers=workers)
    try:
        assert [ahead.get(index) for index in order] == [b"chunk %d" % index for index in order]
    finally:
        ahead.close()
    readers = {name for name, _ in source.read}
    assert all(name.startswith("proto-splitter-readahead") for name in readers)
    assert len(readers) == workers
    assert sorted(index for _, index in source.read) == sorted(order)


def test_a_request_out_of_order_is_read_directly():
    source = Chunks(6)
    ahead = ReadAhead(source, [0, 1, 2, 3, 4, 5], source.opened, workers=2)
    try:
        assert ahead.get(0) == b"chunk 0"
        assert ahead.get(4) == b"chunk 4"  # the workers stop; this and what follows is read in this thread
        assert ahead.get(1) == b"chunk 1"
    finally:
        ahead.close()
    main = threading.current_thread().name
    assert (main, 4) in source.read and (main, 1) in source.read
    assert not any(thread.name.startswith("proto-splitter-readahead") for thread in threading.enumerate())


def test_a_worker_error_is_raised_by_get_in_its_turn():
    source = Chunks(6, broken=3)
    ahead = ReadAhead(source, list(range(6)), source.opened, workers=2)
    try:
        assert [ahead.get(index) for index in range(3)] == [b"chunk 0", b"chunk 1", b"chunk 2"]
        with pytest.raises(ValueError, match="chunk 3 is damaged"):
            ahead.get(3)
    finally:
        ahead.close()


def test_close_before_reading_stops_every_worker():
    source = Chunks(50)
    ahead = ReadAhead(source, list(range(50)), source.opened, workers=2, depth=1)
    ahead.close()
    assert not any(thread.name.startswith("proto-splitter-readahead") for thread in threading.enumerate())
    assert len(source.read) < 50
