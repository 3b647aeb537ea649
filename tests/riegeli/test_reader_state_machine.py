"""RecordReader against a model, a plain Python list of records: hypothesis drives read_record (copies and
views), seek, seek_numeric (record positions and any byte), seek_back and read_last_record in any order, over
files our RecordWriter wrote with random records and options (small chunk sizes, so records span blocks and
chunks), read from bytes, a path and a file object; optionally with one chunk's data damaged, read with
recovery: the damaged chunk's records are skipped, the others come back."""

from __future__ import annotations

import bisect
import io
import os
import random
import tempfile
from collections.abc import Iterator

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from proto_splitter.riegeli import RecordPosition, RecordReader, RecordWriter, RiegeliError, SkippedRegion

from .layout import BLOCK_SIZE, walk
from .wire_records import message_of_size

OPTIONS = [
    "uncompressed",
    "uncompressed,chunk_size:1",
    "uncompressed,chunk_size:300",
    "zstd:1,chunk_size:2000",
    "snappy,chunk_size:70000",
    "brotli:1,chunk_size:5000,padding",
    "uncompressed,chunk_size:900,initial_padding:1000,final_padding",
    "transpose,chunk_size:300",
    "transpose,zstd:1,chunk_size:3000",
    "transpose,snappy,chunk_size:70000,padding",
]
KIB = 1024


def _record(size: int, seed: int) -> bytes:
    """Random (incompressible) or repetitive bytes, or a protobuf message (which transposed chunks split)."""
    rng = random.Random(seed)
    if seed % 3 == 2:
        return message_of_size(size, seed)
    if seed % 3:
        return rng.randbytes(size)
    return (rng.randbytes(7) * (size // 7 + 1))[:size]


record_sizes = st.lists(
    st.one_of(st.just(0), st.integers(1, 300), st.integers(300, 3 * KIB), st.integers(60 * KIB, 140 * KIB)),
    max_size=14,
).filter(lambda sizes: sum(sizes) < 600 * KIB)


class ReaderModel(RuleBasedStateMachine):
    """The model: `records`, the index of the next record (`index`), which records a damaged chunk lost, and
    whether the reader's position is known (after an error the machine seeks before reading again)."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.TemporaryDirectory()

    def teardown(self) -> None:
        self.reader.close()
        self.directory.cleanup()

    @initialize(
        sizes=record_sizes,
        seed=st.integers(0, 2**32),
        options=st.sampled_from(OPTIONS),
        source=st.sampled_from(["bytes", "path", "file object"]),
        damage=st.one_of(st.none(), st.integers(0, 2**32)),
    )
    def write_file(self, sizes: list[int], seed: int, options: str, source: str, damage: int | None) -> None:
        self.records = [_record(size, seed + index) for index, size in enumerate(sizes)]
        buffer = io.BytesIO()
        self.positions: list[RecordPosition] = []
        with RecordWriter(buffer, options=options) as writer:
            for record in self.records:
                writer.write_record(record)
                self.positions.append(writer.last_pos)
        data = bytearray(buffer.getvalue())
        self.numeric = [position.numeric for position in self.positions]
        self.lost: set[int] = set()
        self.damaged: tuple[int, int] | None = None
        with_records = [chunk for chunk in walk(bytes(data)) if chunk.chunk_type in "rt" and chunk.num_records]
        if damage is not None and with_records:
            chunk = with_records[damage % len(with_records)]
            data[chunk.data_bytes[damage % len(chunk.data_bytes)]] ^= 0x40  # the data hash no longer matches
            self.damaged = (chunk.begin, chunk.end)
            self.lost = {i for i, p in enumerate(self.positions) if p.chunk_begin == chunk.begin}
        self.size = len(data)
        self.data = bytes(data)
        self.skipped: list[SkippedRegion] = []
        if source == "bytes":
            src: object = bytes(data)
        elif source == "path":
            src = os.path.join(self.directory.name, "records.riegeli")
            with open(src, "wb") as handle:
                handle.write(data)
        else:
            src = io.BytesIO(bytes(data))
        self.reader = RecordReader(src, recovery=self._recovered)
        self.index = 0
        self.known = True
        self.last: int | None = None
        self.iterator: Iterator[bytes | memoryview] | None = None
        self.iterator_copies = True

    def _recovered(self, region: SkippedRegion) -> bool:
        self.skipped.append(region)
        return True

    # ---- helpers ------------------------------------------------------------------------------------------------

    def _next_surviving(self, index: int) -> int:
        while index in self.lost:
            index += 1
        return index

    def _touches_damage(self, low: int, high: int) -> bool:
        """Whether a lost record lies in [low, high)."""
        return any(low <= lost < high for lost in self.lost)

    def _failed(self) -> None:
        """An operation raised RiegeliError where the model allows it: the position is unknown until a seek."""
        self.known = False

    # ---- reading -----------------------------------------------------------------------------------------------

    @precondition(lambda self: self.known)
    @rule(copy=st.booleans())
    def read_record(self, copy: bool) -> None:
        self._check_next(self.reader.read_record(copy=copy), copy)

    @precondition(lambda self: self.known)
    @rule(copy=st.booleans())
    def next_of_read_records(self, copy: bool) -> None:
        """An iterator of read_records kept across the other rules: it goes on from wherever the reader is."""
        if self.iterator is None:
            self.iterator = self.reader.read_records(copy=copy)
            self.iterator_copies = copy
        record = next(self.iterator, None)
        if record is None:
            self.iterator = None  # it ended: the next one starts afresh
        self._check_next(record, self.iterator_copies)

    def _check_next(self, record: bytes | memoryview | None, copy: bool) -> None:
        expected_index = self._next_surviving(self.index)
        if expected_index >= len(self.records):
            assert record is None
            self.index = len(self.records)
            return
        assert record is not None
        assert isinstance(record, bytes if copy else memoryview)
        assert bytes(record) == self.records[expected_index]
        assert self.reader.last_pos == self.positions[expected_index]
        if expected_index != self.index:  # the damaged chunk was skipped on the way, and reported
            assert self.damaged is not None and self.skipped[-1].begin == self.damaged[0]
            assert self.skipped[-1].end == self.damaged[1]
        self.index = expected_index + 1
        self.last = expected_index

    # ---- seeking -----------------------------------------------------------------------------------------------

    @rule(data=st.data())
    def seek(self, data: st.DataObject) -> None:
        target = data.draw(st.integers(0, len(self.records)))
        position = self.positions[target] if target < len(self.records) else RecordPosition(self.size, 0)
        try:
            self.reader.seek(position)
        except RiegeliError:
            assert target in self.lost
            self._failed()
            return
        assert target not in self.lost
        assert self.reader.pos == position
        self.index, self.known = target, True

    @rule(data=st.data())
    def seek_numeric(self, data: st.DataObject) -> None:
        if self.records and data.draw(st.booleans()):
            numeric = self.numeric[data.draw(st.integers(0, len(self.records) - 1))]
        else:
            numeric = data.draw(st.integers(0, self.size))
        target = bisect.bisect_left(self.numeric, numeric)  # the first record at or after that byte
        try:
            self.reader.seek_numeric(numeric)
        except RiegeliError:
            assert self.damaged is not None and self.damaged[0] <= numeric < self.damaged[1]
            self._failed()
            return
        assert self.damaged is None or not self.damaged[0] <= numeric < self.damaged[1]
        if target < len(self.records):
            assert self.reader.pos.numeric <= self.numeric[target]
        self.index, self.known = target, True

    @precondition(lambda self: self.known)
    @rule()
    def seek_back(self) -> None:
        survivors = [i for i in range(self.index) if i not in self.lost]
        target = survivors[-1] if survivors else None
        try:
            moved = self.reader.seek_back()
        except RiegeliError:
            assert self._touches_damage(0 if target is None else target + 1, self.index)
            self._failed()
            return
        if target is None:
            assert not moved
            return
        assert moved  # also over the damaged chunk, when the reader skipped it and knows where it began
        assert self.reader.pos == self.positions[target]
        self.index = target

    @rule()
    def read_last_record(self) -> None:
        survivors = [i for i in range(len(self.records)) if i not in self.lost]
        try:
            record = self.reader.read_last_record()
        except RiegeliError:
            assert not self.records or len(self.records) - 1 in self.lost
            self._failed()
            return
        assert survivors and survivors[-1] == len(self.records) - 1
        assert record == self.records[survivors[-1]]
        assert self.reader.last_pos == self.positions[survivors[-1]]
        self.index, self.known, self.last = len(self.records), True, survivors[-1]

    @rule()
    def read_everything_with_a_fresh_reader(self) -> None:
        """Sequential reading from the start with recovery: every surviving record, the damage reported once."""
        regions: list[SkippedRegion] = []

        def recovery(region: SkippedRegion) -> bool:
            regions.append(region)
            return True

        with RecordReader(self.data, recovery=recovery) as reader:
            got = list(reader.read_records())
        assert got == [record for i, record in enumerate(self.records) if i not in self.lost]
        if self.damaged is None:
            assert regions == []
        else:
            assert [(r.begin, r.end) for r in regions] == [self.damaged]

    # ---- invariants -------------------------------------------------------------------------------------------

    @invariant()
    def last_pos_is_the_last_record_read(self) -> None:
        if self.last is not None:
            assert self.reader.last_pos == self.positions[self.last]


ReaderModel.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
TestReaderModel = ReaderModel.TestCase


def test_model_files_span_blocks_and_chunks() -> None:
    """The strategy reaches what the machine is for: records across block boundaries, many chunks."""
    records = [_record(size, index) for index, size in enumerate([100 * KIB, 5, 0, 70 * KIB, 300])]
    buffer = io.BytesIO()
    with RecordWriter(buffer, options="uncompressed,chunk_size:300") as writer:
        writer.write_records(records)
    chunks = [chunk for chunk in walk(buffer.getvalue()) if chunk.chunk_type == "r"]
    assert len(chunks) >= 3
    assert any(chunk.block_headers for chunk in chunks)
    assert len(buffer.getvalue()) > 2 * BLOCK_SIZE
