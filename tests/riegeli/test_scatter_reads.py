"""Scatter reads (`readv`): every source fills a list of buffers, one after the other, exactly as one read of
their total length would, stopping short only at the end; the chunk reader takes a chunk's content and the block
headers between its pieces in one such read, and still reports the first damage in file order."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proto_splitter.riegeli import RecordReader, RecordWriter, RiegeliError
from proto_splitter.riegeli import sources as sources_module
from proto_splitter.riegeli.sources import BorrowedSource, BufferSource, FileSource, PathSource, StreamSource

from .layout import BLOCK_SIZE
from .test_corruption import _Stream

DATA = bytes(range(256)) * 64  # 16 KiB


class PositionedReader:
    """A positioned reader with read_into only (no readv of its own): what BorrowedSource falls back on."""

    def __init__(self, data: bytes):
        self.data, self.calls = data, 0

    def size(self) -> int:
        return len(self.data)

    def read_into(self, position: int, out: memoryview) -> int:
        self.calls += 1
        part = self.data[position : position + len(out)]
        out[: len(part)] = part
        return len(part)


@pytest.fixture(scope="module")
def path(tmp_path_factory) -> str:
    target = tmp_path_factory.mktemp("scatter") / "data.bin"
    target.write_bytes(DATA)
    return str(target)


def open_each(path: str) -> list:
    return [
        PathSource(path),
        BufferSource(DATA),
        BorrowedSource(PositionedReader(DATA)),
        FileSource(io.BytesIO(DATA)),
    ]


def scatter(source, position: int, sizes: list[int]) -> tuple[int, bytes]:
    buffers = [memoryview(bytearray(size)) for size in sizes]
    count = source.readv(position, buffers)
    return count, b"".join(bytes(buffer) for buffer in buffers)[:count]


@settings(max_examples=60, deadline=None)
@given(position=st.integers(0, len(DATA) + 10), sizes=st.lists(st.integers(0, 3000), max_size=12))
def test_every_source_fills_the_buffers_in_order_up_to_the_end(path, position, sizes):
    expected = DATA[position : position + sum(sizes)]
    for source in open_each(path):
        assert scatter(source, position, sizes) == (len(expected), expected), type(source).__name__
        source.close()


def test_a_stream_is_read_in_order_by_scatter_reads():
    source = StreamSource(io.BytesIO(DATA))
    assert scatter(source, 0, [10, 0, 20]) == (30, DATA[:30])
    assert scatter(source, 100, [5000, 20000]) == (len(DATA) - 100, DATA[100:])


def test_path_scatter_reads_past_iov_max_and_after_short_reads(path, monkeypatch):
    sizes = [3] * (sources_module.IOV_MAX * 2 + 7)  # three preadv calls
    source = PathSource(path)
    assert scatter(source, 1, sizes) == (len(sizes) * 3, DATA[1 : 1 + len(sizes) * 3])

    real_preadv = os.preadv

    def short_preadv(fd, buffers, offset):  # the kernel may return fewer bytes than asked: at most 1000 here
        head, total = [], 0
        for buffer in buffers:
            head.append(buffer[: max(0, min(len(buffer), 1000 - total))])
            total += len(head[-1])
        return real_preadv(fd, [part for part in head if len(part)], offset)

    monkeypatch.setattr(os, "preadv", short_preadv)
    assert scatter(source, 7, [900, 900, 5000, 0, 10]) == (6810, DATA[7:6817])
    assert scatter(source, len(DATA) - 50, [40, 40]) == (50, DATA[-50:])
    source.close()


class ScatterReader(PositionedReader):
    """A positioned reader with a scatter read of its own (as a remote file has), counting its calls."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.scatter_calls = 0

    def readv(self, position: int, buffers: list[memoryview]) -> int:
        self.scatter_calls += 1
        return sources_module.read_each(super().read_into, position, buffers)


def test_a_borrowed_reader_uses_its_own_scatter_read_when_it_has_one():
    reader = ScatterReader(DATA)
    assert scatter(BorrowedSource(reader), 5, [1, 2, 3]) == (6, DATA[5:11])
    assert reader.scatter_calls == 1


def write_records(path: str, records: list[bytes]) -> None:
    with RecordWriter(path, options="uncompressed") as writer:
        for record in records:
            writer.write_record(record)


def test_a_chunk_across_many_blocks_is_read_in_one_scatter_read(tmp_path):
    path = str(tmp_path / "big.riegeli")
    record = os.urandom(20 * BLOCK_SIZE + 123)
    write_records(path, [record])
    source = ScatterReader(open(path, "rb").read())
    with RecordReader(source) as reader:
        assert reader.read_record() == record
        assert reader.read_record() is None
    assert source.scatter_calls <= 4  # headers and content of a chunk spanning 21 blocks: not one read per block
    with RecordReader(path) as reader:
        assert list(reader.read_records()) == [record]


def test_damage_is_reported_in_file_order_after_a_scatter_read(tmp_path):
    path = str(tmp_path / "damaged.riegeli")
    record = os.urandom(3 * BLOCK_SIZE)
    write_records(path, [record])
    data = bytearray(open(path, "rb").read())
    second = bytearray(data)
    second[2 * BLOCK_SIZE] ^= 0xFF  # the second block header of the chunk (the first one after the signature)
    with pytest.raises(RiegeliError, match=f"corrupted block header at byte {2 * BLOCK_SIZE}"):
        list(RecordReader(bytes(second)).read_records())
    cut = bytes(data[: 2 * BLOCK_SIZE + 10])  # a stream ending inside that block header (a file's size says so first)
    with pytest.raises(RiegeliError, match=f"block header at byte {2 * BLOCK_SIZE} is incomplete"):
        list(RecordReader(_Stream(cut)).read_records())
    cut = bytes(data[: 2 * BLOCK_SIZE - 100])  # ends inside the content before it
    with pytest.raises(RiegeliError, match=f"expected {BLOCK_SIZE - 24} bytes at byte {BLOCK_SIZE + 24}, found"):
        list(RecordReader(_Stream(cut)).read_records())
