"""RangedFile: requests never larger than the cap, a window of fetched bytes that slides as ranges are released,
reads outside plans, several threads at once, and closing (threads stopped, bytes dropped)."""

from __future__ import annotations

import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from proto_splitter import ProtoSplitterError
from proto_splitter.remote import RangedFile, RemoteReadError, open_remote
from proto_splitter.testing.range_server import RangeServer

fsspec = pytest.importorskip("fsspec", reason="fsspec is the optional [remote] extra")

KIB, MIB = 1 << 10, 1 << 20


@pytest.fixture
def stored(request):
    """(url, data): 10 MiB of random bytes in fsspec's memory filesystem."""
    data = os.urandom(10 * MIB)
    url = f"memory://ranged/{request.node.name}.bin"
    with fsspec.open(url, "wb") as out:
        out.write(data)
    yield url, data
    fsspec.filesystem("memory").rm(url)


def fetch_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("proto-splitter-fetch")]


def test_planned_ranges_are_fetched_ahead_within_the_window_and_dropped_once_released(stored):
    url, data = stored
    with open_remote(url, max_request=1 * MIB, parallel=2) as remote:
        tail_requests = remote.stats.requests
        ranges = [(start, start + MIB) for start in range(0, 9 * MIB, MIB)]
        with remote.plan(ranges) as plan:
            for index, (start, end) in enumerate(ranges):
                assert remote.read_at(start, end - start) == data[start:end]
                assert remote.held <= 2 * MIB  # the window: 2 requests of 1 MiB
                plan.release(index)
            assert remote.held == 0
        assert remote.stats.requests - tail_requests == len(ranges)  # each byte fetched once
        assert remote.stats.largest_request <= MIB
        assert remote.stats.peak_held <= 2 * MIB


def test_neighbouring_ranges_share_requests_up_to_the_cap(stored):
    url, data = stored
    with open_remote(url, max_request=3 * MIB, parallel=2) as remote:
        before = remote.stats.requests
        ranges = [(start, start + 100 * KIB) for start in range(0, 9 * MIB, 100 * KIB + 10 * KIB)]
        with remote.plan(ranges) as plan:
            for index, (start, end) in enumerate(ranges):
                assert remote.read_at(start, end - start) == data[start:end]
                plan.release(index)
        assert remote.stats.requests - before == 3  # 9 MiB of neighbours in 3 requests of at most 3 MiB
        assert remote.stats.largest_request <= 3 * MIB


def test_a_range_beyond_the_window_is_fetched_when_read_first(stored):
    url, data = stored
    with open_remote(url, max_request=MIB, parallel=1) as remote:
        before = remote.stats.bytes
        ranges = [(start, start + MIB) for start in range(0, 8 * MIB, MIB)]
        with remote.plan(ranges) as plan:
            assert remote.read_at(7 * MIB, 100) == data[7 * MIB : 7 * MIB + 100]  # read out of order
            for index, (start, end) in enumerate(ranges):
                assert remote.read_at(start, end - start) == data[start:end]
                plan.release(index)
        assert remote.stats.bytes - before == 8 * MIB  # nothing fetched twice


def test_reads_outside_a_plan_grow_while_sequential_and_keep_two_pieces(stored):
    url, data = stored
    with open_remote(url, max_request=2 * MIB) as remote:
        before = remote.stats.requests
        remote.seek(0)
        chunks = []
        while piece := remote.read(100 * KIB):
            chunks.append(piece)
        assert b"".join(chunks) == data
        # 64 KiB, then doubling up to 2 MiB per request: far fewer requests than reads
        assert remote.stats.requests - before < 12
        assert remote.stats.largest_request <= 2 * MIB
        assert remote.stats.peak_held <= 2 * 2 * MIB  # two pieces kept
        assert remote.held == 0


def test_a_large_read_is_cut_into_capped_requests(stored):
    url, data = stored
    with open_remote(url, max_request=MIB, parallel=3) as remote:
        assert remote.read() == data
        assert remote.stats.largest_request <= MIB
        assert remote.stats.peak_held <= 3 * MIB
        assert remote.held == 0


def test_scatter_reads_fill_buffers_across_requests_without_fetching_twice(stored):
    url, data = stored
    rng = random.Random(5)
    with open_remote(url, max_request=MIB, parallel=2) as remote:
        before = remote.stats.bytes
        ranges = [(start, start + 900 * KIB) for start in range(0, 8 * MIB, 900 * KIB)]  # before the tail
        with remote.plan(ranges) as plan:
            for index, (start, end) in enumerate(ranges):
                sizes = [rng.choice([0, 1, 24, 4 * KIB, 64 * KIB - 24]) for _ in range(40)]
                sizes.append(end - start - sum(sizes))
                buffers = [bytearray(size) for size in sizes]
                assert remote.readv(start, buffers) == end - start
                assert b"".join(buffers) == data[start:end]
                plan.release(index)
        assert remote.stats.bytes - before == len(ranges) * 900 * KIB  # each planned byte fetched once
        assert remote.stats.largest_request <= MIB
        tail = [bytearray(100), bytearray(0), bytearray(100)]
        assert remote.readv(len(data) - 150, tail) == 150  # short only at the end of the file
        assert bytes(tail[0] + tail[2][:50]) == data[-150:]
        large = [bytearray(700 * KIB) for _ in range(4)]  # more than a request: each buffer read on its own
        assert remote.readv(3, large) == 2800 * KIB
        assert b"".join(large) == data[3 : 3 + 2800 * KIB]
        assert remote.stats.largest_request <= MIB


def test_threads_reading_different_parts_at_once_get_their_bytes(tmp_path):
    data = os.urandom(6 * MIB)
    (tmp_path / "blob.bin").write_bytes(data)
    with RangeServer(tmp_path) as server, open_remote(server.url("blob.bin"), max_request=256 * KIB) as remote:
        ranges = [(start, start + 300 * KIB) for start in range(0, 6 * MIB - 300 * KIB, 200 * KIB)]

        def planned_reader(seed: int) -> bool:
            """Each thread plans its own ranges (in a shuffled order) and also reads random bytes."""
            rng = random.Random(seed)
            mine = rng.sample(ranges, 8)
            with remote.plan(mine) as plan:
                for index, (start, end) in enumerate(mine):
                    if remote.read_at(start, end - start) != data[start:end]:
                        return False
                    position = rng.randrange(len(data))
                    count = rng.randrange(1, 400 * KIB)
                    if remote.read_at(position, count) != data[position : position + count]:
                        return False
                    plan.release(index)
            return True

        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(planned_reader, range(16)))
        assert server.largest_answer <= 256 * KIB


def test_bad_arguments_and_a_closed_file(stored):
    url, data = stored
    with pytest.raises(ProtoSplitterError, match="max_request"):
        open_remote(url, max_request=0)
    with pytest.raises(ProtoSplitterError, match="parallel"):
        open_remote(url, parallel=True)
    remote = open_remote(url)
    with pytest.raises(RemoteReadError, match="negative"):
        remote.read_at(-1, 10)
    assert remote.read_at(len(data) - 5, 100) == data[-5:]  # fewer bytes only at the end
    assert remote.read_at(len(data) + 5, 100) == b""
    remote.close()
    assert remote.closed
    with pytest.raises(ValueError, match="closed"):
        remote.read_at(0, 10)
    remote.close()  # closing twice is fine


def test_closing_stops_the_fetching_threads_and_drops_the_pieces(stored):
    url, _ = stored
    remote = RangedFile(url, max_request=MIB, parallel=3)
    plan = remote.plan([(start, start + MIB) for start in range(0, 9 * MIB, MIB)])
    remote.read_at(0, 10)
    assert fetch_threads()
    remote.close()
    assert remote.held == 0
    assert not fetch_threads()
    plan.close()  # a plan closed after its file is fine


def test_a_missing_remote_file(tmp_path):
    with pytest.raises(RemoteReadError, match="no such file"):
        open_remote("memory://ranged/absent.bin")
    assert not fetch_threads()
