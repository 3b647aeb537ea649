"""RecordsAhead: records read by threads in an expected order, a few ahead, handed out when asked for; a record
asked for out of that order is left to the caller, and reading goes on from a later one asked for."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from proto_splitter.index import IndexMismatchError
from proto_splitter.records_ahead import RecordsAhead


class FakeRecords:
    """Record k holds bytes([k]) * (k + 1); record 13 is damaged. Remembers which records were read."""

    def __init__(self) -> None:
        self.read_ones: list[int] = []
        self._lock = threading.Lock()

    def size(self, chunk: int) -> int:
        return chunk + 1

    def read(self, chunk: int, start: int, end: int) -> memoryview:
        with self._lock:
            self.read_ones.append(chunk)
        if chunk == 13:
            raise IndexMismatchError("chunk 13 does not match the index's hash of it")
        return memoryview(bytes([chunk]) * (end - start))


@pytest.fixture
def pool():
    with ThreadPoolExecutor(2) as executor:
        yield executor


def test_records_in_order(pool):
    records = FakeRecords()
    ahead = RecordsAhead(records, [5, 2, 9, 7], pool, 2)  # type: ignore[arg-type]
    for chunk in (5, 2, 9, 7):
        assert bytes(ahead.take(chunk)) == bytes([chunk]) * (chunk + 1)  # type: ignore[arg-type]
    assert sorted(records.read_ones) == [2, 5, 7, 9]


def test_out_of_order_requests(pool):
    records = FakeRecords()
    order = list(range(20))
    ahead = RecordsAhead(records, [chunk for chunk in order if chunk != 13], pool, 3)  # type: ignore[arg-type]
    assert ahead.take(99) is None  # not in the order
    assert bytes(ahead.take(1)) == b"\1\1"  # type: ignore[arg-type]  # 0 dropped
    assert ahead.take(0) is None  # passed
    assert bytes(ahead.take(10)) == b"\n" * 11  # type: ignore[arg-type]  # past what was read ahead
    assert ahead.take(5) is None
    assert bytes(ahead.take(11)) == b"\x0b" * 12  # type: ignore[arg-type]
    ahead.close()
    assert ahead.take(12) is None  # closed: nothing more is read ahead
    pool.shutdown(wait=True)
    assert not set(records.read_ones) & set(range(5, 10)) and len(records.read_ones) == len(set(records.read_ones))


def test_an_error_is_raised_when_its_record_is_taken(pool):
    ahead = RecordsAhead(FakeRecords(), [12, 13, 14], pool, 3)  # type: ignore[arg-type]
    assert bytes(ahead.take(12)) == b"\x0c" * 13  # type: ignore[arg-type]
    with pytest.raises(IndexMismatchError, match="chunk 13"):
        ahead.take(13)
    assert bytes(ahead.take(14)) == b"\x0e" * 15  # type: ignore[arg-type]


def test_an_error_of_a_record_never_taken_is_dropped(pool):
    ahead = RecordsAhead(FakeRecords(), [13, 14], pool, 2)  # type: ignore[arg-type]
    assert bytes(ahead.take(14)) == b"\x0e" * 15  # type: ignore[arg-type]


def test_reading_ahead_keeps_to_its_budget(pool):
    records = FakeRecords()
    ahead = RecordsAhead(records, [0, 1, 2, 3, 4], pool, 1, budget=6)  # type: ignore[arg-type]  # sizes 1 to 5
    assert bytes(ahead.take(0)) == b"\0"  # type: ignore[arg-type]
    pool.shutdown(wait=True)
    assert sorted(records.read_ones) == [0, 1, 2]  # 1 and 2 pending (5 bytes): 3 (4 bytes) waits
