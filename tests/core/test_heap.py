"""_heap: free heap memory handed back to the system while a received message is merged."""

from __future__ import annotations

import io
import sys

import pytest

import proto_splitter as ps
from proto_splitter import _heap, files
from proto_splitter.testing.graphs import graph_def_like
from proto_splitter.testing.test_message3_pb2 import Graph


def test_release_free_memory_trims_where_glibc_offers_malloc_trim():
    released = _heap.release_free_memory()
    assert released is (_heap._MALLOC_TRIM is not None)
    if sys.platform.startswith("linux") and "musl" not in sys.version.lower():
        assert released


def test_releaser_trims_once_every_so_many_bytes(monkeypatch: pytest.MonkeyPatch):
    calls = []
    monkeypatch.setattr(_heap, "release_free_memory", lambda: calls.append(1) or True)
    releaser = _heap.Releaser(every=100)
    for count in (40, 40):
        releaser.freed(count)
    assert calls == []
    releaser.freed(20)  # 100 reached
    assert len(calls) == 1
    releaser.freed(99)
    assert len(calls) == 1
    releaser.freed(250)  # one trim however far past the mark
    assert len(calls) == 2


def test_without_malloc_trim_nothing_is_called(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(_heap, "_MALLOC_TRIM", None)
    assert _heap.release_free_memory() is False


def test_a_message_read_from_a_stream_trims_the_heap_as_its_chunks_are_merged(monkeypatch: pytest.MonkeyPatch):
    graph = graph_def_like(8, constant_size=100_000, small_nodes=300, seed=bytes(range(256)) * 400)
    data = b"".join(ps.iter_chunks(graph, max_chunk_size=200_000, options="zstd:1"))
    assert data.startswith(files.RIEGELI_SIGNATURE)  # a .cpb: merged from the records received
    calls = []
    monkeypatch.setattr(_heap, "RELEASE_EVERY", 150_000)
    monkeypatch.setattr(_heap, "release_free_memory", lambda: calls.append(1) or True)

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            return self._inner.readinto(buffer)

    assert ps.read(Pipe(), Graph) == graph
    assert len(calls) >= 4  # about 900 KB of records, one trim per 150 KB let go
