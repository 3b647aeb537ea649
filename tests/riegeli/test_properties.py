"""Property tests of the Riegeli codec: random record lists and constructed block-boundary cases, every writer
option, bytes and path destinations; records, positions, seeking and seek_back must all agree."""

from __future__ import annotations

import io
import itertools
import os
import random
import tempfile

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from proto_splitter.riegeli import RecordPosition, RecordReader, RecordWriter
from proto_splitter.riegeli import writer as riegeli_writer
from proto_splitter.riegeli.varint import varint

from .layout import BLOCK_HEADER_SIZE, BLOCK_SIZE, CHUNK_HEADER_SIZE, SIGNATURE_SIZE, chunk_end, walk

OPTIONS = [
    "uncompressed",
    "brotli:1",
    "zstd:1",
    "snappy",
    "chunk_size:1000",
    "padding",
    "zstd:1,chunk_size:5000,padding",
    "initial_padding,final_padding",
    "transpose,zstd:1,chunk_size:5000",
    "transpose,padding",
]
KIB = 1024
MAX_TOTAL = 700 * KIB  # per example, to keep the suite fast

# ---- record contents -----------------------------------------------------------------------------------------


def _content(size: int, seed: int) -> bytes:
    """Deterministic bytes: random (incompressible) or repetitive (compressible), depending on the seed."""
    rng = random.Random(seed)
    if seed % 3 == 0:
        return rng.randbytes(size)
    pattern = rng.randbytes(rng.randint(1, 40))
    return (pattern * (size // len(pattern) + 1))[:size]


_sizes = st.one_of(
    st.just(0),
    st.integers(0, 100),
    st.integers(100, 5 * KIB),
    st.integers(60 * KIB, 300 * KIB),  # around and past one 64 KiB block, up to several blocks
)


@st.composite
def record_lists(draw):
    sizes = draw(st.lists(_sizes, max_size=12))
    total, kept = 0, []
    for size in sizes:
        if total + size > MAX_TOTAL:
            size = draw(st.integers(0, 100))
        kept.append(size)
        total += size
    seed = draw(st.integers(0, 2**32))
    return [_content(size, seed + index) for index, size in enumerate(kept)]


# ---- writing and checking --------------------------------------------------------------------------------------


def _write(dest, records, options: str) -> list[RecordPosition]:
    positions = []
    with RecordWriter(dest, options=options) as writer:
        for record in records:
            before = writer.pos
            writer.write_record(record)
            positions.append(writer.last_pos)
            # The new record is at or after the position the writer announced (a full chunk may be flushed first).
            assert positions[-1].numeric >= before.numeric
    return positions


def _check_file(src_factory, records: list[bytes], positions: list[RecordPosition], size: int) -> None:
    # Sequential: records and last_pos per record equal what the writer reported.
    with RecordReader(src_factory()) as reader:
        reader.check_file_format()
        got = []
        for record in reader.read_records():
            got.append(record)
            assert reader.last_pos == positions[len(got) - 1]
        assert got == records
        assert reader.read_record() is None
        assert reader.size() == size
    # Without copies: each view holds its record until the next read (chunk memory is reused after that).
    with RecordReader(src_factory()) as reader:
        assert [bytes(view) for view in reader.read_records(copy=False)] == records
    # Positions are strictly increasing, numerically too (they are unique and ordered like the records).
    assert all(a < b for a, b in itertools.pairwise(positions))
    assert all(a.numeric < b.numeric for a, b in itertools.pairwise(positions))

    with RecordReader(src_factory()) as reader:
        order = list(range(len(records)))
        random.Random(len(records)).shuffle(order)
        for index in order:
            reader.seek_numeric(positions[index].numeric)
            assert reader.pos == positions[index]
            assert reader.read_record() == records[index]
            assert reader.last_pos == positions[index]
            reader.seek(positions[index])
            assert reader.read_record() == records[index]
            assert reader.last_pos == positions[index]
            if index + 1 < len(records):  # and reading on continues with the next record
                assert reader.read_record() == records[index + 1]
                assert reader.last_pos == positions[index + 1]

        # seek_back walks backwards through all records, from the end of the file.
        reader.seek_numeric(size)
        assert reader.read_record() is None
        backwards = []
        while reader.seek_back():
            assert reader.pos == positions[len(records) - 1 - len(backwards)]
            backwards.append(reader.read_record())
            assert reader.seek_back()
        assert backwards == records[::-1]

        if records:
            assert reader.read_last_record() == records[-1]
            assert reader.last_pos == positions[-1]
            assert reader.read_record() is None


def _roundtrip_both_destinations(records: list[bytes], options: str) -> bytes:
    buffer = io.BytesIO()
    positions = _write(buffer, records, options)
    data = buffer.getvalue()
    _check_file(lambda: data, records, positions, len(data))
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "records.riegeli")
        path_positions = _write(path, records, options)
        assert path_positions == positions
        with open(path, "rb") as handle:
            assert handle.read() == data  # same bytes through both destinations
        assert os.listdir(directory) == ["records.riegeli"]  # no temporary file left behind
        _check_file(lambda: path, records, positions, len(data))
    # Every chunk boundary obeys the format's geometry (checked by the independent walker).
    chunks = walk(data)
    assert chunks[-1].end == len(data)
    assert sum(c.num_records for c in chunks) == len(records)
    assert {p.chunk_begin for p in positions} <= {
        c.begin for c in chunks if c.chunk_type == ("t" if "transpose" in options else "r")
    }
    return data


@pytest.mark.parametrize("options", OPTIONS)
@settings(
    deadline=None, max_examples=examples(20), suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(records=record_lists())
@example(records=[_content(300 * KIB, 1), b"", _content(BLOCK_SIZE, 3), b"z", b""])
@example(records=[b""] * 5)
def test_random_records_roundtrip(options, records):
    data = _roundtrip_both_destinations(records, options)
    if options.endswith("padding"):
        assert len(data) % BLOCK_SIZE == 0  # final padding makes the size a multiple of the block size


# ---- constructed block-boundary cases ---------------------------------------------------------------------------


def _uncompressed_data_size(record_size: int) -> int:
    """Data of an uncompressed simple chunk holding one record: type byte, varint(len(sizes)), sizes, value."""
    sizes = len(varint(record_size))
    return 1 + len(varint(sizes)) + sizes + record_size


def _record_size_ending_at(begin: int, target: int) -> int | None:
    """The size of a single record whose uncompressed chunk, beginning at `begin`, ends exactly at `target`
    (by the format geometry: block 65536, block header 24, chunk header 40), or None if no size does."""
    headers = (target - 1) // BLOCK_SIZE - (begin - 1) // BLOCK_SIZE
    estimate = target - begin - CHUNK_HEADER_SIZE - BLOCK_HEADER_SIZE * headers - 5
    for size in range(max(0, estimate - 40), estimate + 40):
        if chunk_end(begin, _uncompressed_data_size(size), 1) == target:
            return size
    return None


def _boundary_records(first_begin: int, targets: list[int]) -> tuple[list[bytes], list[int]]:
    """Records (one per chunk with chunk_size:1) making consecutive chunks end at the given targets when
    reachable; returns the records and the chunk beginnings the geometry predicts."""
    records, begins, begin = [], [], first_begin
    for index, target in enumerate(targets):
        size = _record_size_ending_at(begin, target)
        if size is None or size == 0:
            size = 10  # unreachable target (inside a block header): any record
        records.append(_content(size, index))
        begins.append(begin)
        begin = chunk_end(begin, _uncompressed_data_size(size), 1)
    return records, begins


def test_geometry_helper_against_hand_computed_sizes():
    # 64 + 40 + (1 + 1 + 3 + L) = 65536  =>  L = 65427: the first chunk ends exactly on the block boundary.
    assert _record_size_ending_at(64, BLOCK_SIZE) == 65427
    # One more byte and the chunk crosses the boundary: its end moves past the 24-byte block header.
    assert chunk_end(64, _uncompressed_data_size(65428), 1) == BLOCK_SIZE + BLOCK_HEADER_SIZE + 1
    # Ending exactly on the second boundary: one block header (24 bytes) in between.
    assert _record_size_ending_at(64, 2 * BLOCK_SIZE) == 2 * BLOCK_SIZE - 64 - 40 - 5 - 24
    # A chunk never ends inside, nor immediately after, a block header.
    for offset in range(1, BLOCK_HEADER_SIZE + 1):
        assert _record_size_ending_at(64, BLOCK_SIZE + offset) is None


@pytest.mark.parametrize(
    "case",
    [
        "ends exactly on first boundary, next starts on it",
        "ends exactly on second boundary",
        "ends one byte before a boundary",
        "ends one byte past a block header",
        "starts on a boundary after initial padding",
        "several chunks each ending on a boundary",
    ],
)
@pytest.mark.parametrize("destination", ["bytes", "path"])
def test_constructed_block_boundaries(case, destination):
    options = "uncompressed,chunk_size:1"  # every non-empty record closes its own chunk
    first = SIGNATURE_SIZE
    if case == "ends exactly on first boundary, next starts on it":
        targets = [BLOCK_SIZE, BLOCK_SIZE + 300, 2 * BLOCK_SIZE + 5000]
    elif case == "ends exactly on second boundary":
        targets = [2 * BLOCK_SIZE, 2 * BLOCK_SIZE + 100]
    elif case == "ends one byte before a boundary":
        targets = [BLOCK_SIZE - 1, 3 * BLOCK_SIZE - 1, 3 * BLOCK_SIZE + 100]
    elif case == "ends one byte past a block header":
        targets = [BLOCK_SIZE + BLOCK_HEADER_SIZE + 1, 2 * BLOCK_SIZE + BLOCK_HEADER_SIZE + 1, 2 * BLOCK_SIZE + 500]
    elif case == "starts on a boundary after initial padding":
        options = "uncompressed,chunk_size:1,initial_padding"
        first = BLOCK_SIZE
        targets = [2 * BLOCK_SIZE, 2 * BLOCK_SIZE + 1000, 4 * BLOCK_SIZE]
    else:
        targets = [BLOCK_SIZE, 2 * BLOCK_SIZE, 4 * BLOCK_SIZE, 5 * BLOCK_SIZE]
    records, begins = _boundary_records(first, targets)
    records.append(b"tail")
    begins.append(targets[-1])

    if destination == "bytes":
        dest = io.BytesIO()
        positions = _write(dest, records, options)
        data = dest.getvalue()
    else:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "f.riegeli")
            positions = _write(path, records, options)
            with open(path, "rb") as handle:
                data = handle.read()
    # The writer put each chunk where the geometry says, so each target boundary was hit.
    assert [p.chunk_begin for p in positions] == begins
    assert [p.record_index for p in positions] == [0] * len(records)
    chunk_begins = [c.begin for c in walk(data)]
    for target in targets:
        assert target in chunk_begins
        if target % BLOCK_SIZE == 0:
            # A chunk beginning on a block boundary: the block header there says previous_chunk == 0.
            assert int.from_bytes(data[target + 8 : target + 16], "little") == 0
    _check_file(lambda: data, records, positions, len(data))


@settings(deadline=None, max_examples=examples(25))
@given(
    st.lists(st.tuples(st.integers(1, 3), st.integers(-3, 30)), min_size=1, max_size=4),
    st.sampled_from(["uncompressed,chunk_size:1", "uncompressed,chunk_size:1,padding"]),
)
def test_random_chunks_ending_near_block_boundaries(steps, options):
    """Hypothesis picks, for each chunk, a block boundary 1-3 blocks ahead and an offset -3..30 around it."""
    first = BLOCK_SIZE if "padding" in options else SIGNATURE_SIZE
    targets, begin = [], first
    for blocks_ahead, offset in steps:
        target = (begin // BLOCK_SIZE + blocks_ahead) * BLOCK_SIZE + offset
        targets.append(target)
        begin = target if _record_size_ending_at(begin, target) else chunk_end(begin, _uncompressed_data_size(10), 1)
    records, begins = _boundary_records(first, targets)
    records.append(b"")  # an empty record last: it shares no chunk but closes nothing (flushed on close)
    dest = io.BytesIO()
    positions = _write(dest, records, options)
    assert [p.chunk_begin for p in positions[:-1]] == begins
    data = dest.getvalue()
    _check_file(lambda: data, records, positions, len(data))


# ---- compressed chunks with many empty records: the chunk end is begin + num_records --------------------------


@pytest.mark.parametrize("options", ["zstd:1", "snappy", "brotli:1"])
@pytest.mark.parametrize(
    "count,expected_end",
    [
        (BLOCK_SIZE - SIGNATURE_SIZE, BLOCK_SIZE),  # 64 + count lands exactly on the boundary
        (BLOCK_SIZE - SIGNATURE_SIZE + 10, BLOCK_SIZE + BLOCK_HEADER_SIZE + 1),  # inside a block header: moved past it
        (BLOCK_SIZE - SIGNATURE_SIZE + BLOCK_HEADER_SIZE, BLOCK_SIZE + BLOCK_HEADER_SIZE + 1),  # right after it: too
        (BLOCK_SIZE - SIGNATURE_SIZE + 30, BLOCK_SIZE + 30),
    ],
)
def test_many_empty_records_pad_the_chunk(options, count, expected_end):
    records = [b""] * count + [b"after"]
    buffer = io.BytesIO()
    with RecordWriter(buffer, options=options) as writer:
        writer.write_records(records[:-1])
        writer.flush()
        assert writer.pos == RecordPosition(expected_end, 0)
        writer.write_record(records[-1])
        assert writer.last_pos == RecordPosition(expected_end, 0)
    data = buffer.getvalue()
    chunks = walk(data)
    assert [(c.begin, c.end, c.num_records) for c in chunks if c.chunk_type == "r"] == [
        (SIGNATURE_SIZE, expected_end, count),
        (expected_end, len(data), 1),
    ]
    with RecordReader(data) as reader:
        assert list(reader.read_records()) == records
        reader.seek_numeric(SIGNATURE_SIZE + count - 1)
        assert reader.read_record() == b""
        assert reader.last_pos == RecordPosition(SIGNATURE_SIZE, count - 1)
        assert reader.read_record() == b"after"
        assert reader.read_last_record() == b"after"
        assert reader.seek_back() and reader.seek_back()
        assert reader.last_pos == RecordPosition(expected_end, 0)
        assert reader.pos == RecordPosition(SIGNATURE_SIZE, count - 1)
        # A numeric position inside the padded tail of the chunk (past its last record) reads the next chunk.
        if expected_end - (SIGNATURE_SIZE + count) > 0:
            reader.seek_numeric(SIGNATURE_SIZE + count)
            assert reader.read_record() == b"after"


# ---- more writer/reader behaviour -------------------------------------------------------------------------------


def test_flush_ends_the_chunk_and_pos_is_the_next_record():
    buffer = io.BytesIO()
    with RecordWriter(buffer, options="uncompressed") as writer:
        writer.write_record(b"a")
        assert writer.pos == RecordPosition(SIGNATURE_SIZE, 1)
        writer.flush()
        following = writer.pos
        assert following.record_index == 0 and following.chunk_begin > SIGNATURE_SIZE
        writer.write_record(b"b")
        assert writer.last_pos == following
        assert buffer.getvalue()[:SIGNATURE_SIZE]  # flush pushed bytes out already
    with RecordReader(buffer.getvalue()) as reader:
        assert list(reader.read_records()) == [b"a", b"b"]


def test_records_are_copied_when_written():
    record = bytearray(b"original")
    buffer = io.BytesIO()
    with RecordWriter(buffer, options="uncompressed") as writer:
        writer.write_record(record)
        record[:] = b"mutated!"
        writer.write_record(memoryview(b"view"))
    with RecordReader(buffer.getvalue()) as reader:
        assert list(reader.read_records()) == [b"original", b"view"]


def test_messages_roundtrip():
    from google.protobuf import struct_pb2

    messages = [struct_pb2.Value(string_value="x" * n) for n in (0, 5, 70000)]
    buffer = io.BytesIO()
    with RecordWriter(buffer, options="zstd:1") as writer:
        writer.write_messages(messages)
    with RecordReader(buffer.getvalue()) as reader:
        assert list(reader.read_messages(struct_pb2.Value)) == messages


def test_records_after_other_data_in_a_file_object():
    """A file object's position when handed over is byte 0 of the records, for writing and reading."""
    records = [b"x" * 70000, b"y", b""]
    handle = io.BytesIO()
    handle.write(b"PREFIX" * 100)
    positions = _write(handle, records, "uncompressed")
    alone = io.BytesIO()
    assert _write(alone, records, "uncompressed") == positions
    assert handle.getvalue()[600:] == alone.getvalue()
    handle.seek(600)
    with RecordReader(handle) as reader:
        assert list(reader.read_records()) == records
        reader.seek(positions[1])
        assert reader.read_record() == b"y"


def test_empty_file_has_no_records():
    buffer = io.BytesIO()
    with RecordWriter(buffer, options="uncompressed"):
        pass
    assert len(buffer.getvalue()) == SIGNATURE_SIZE
    with RecordReader(buffer.getvalue()) as reader:
        reader.check_file_format()
        assert reader.read_record() is None
        assert reader.seek_back() is False


def _first_record_walk(options: str, how: str) -> tuple[bytes, RecordPosition]:
    """Writes [b'hello', b'world'], gets to b'hello' (`how`), reads it, then seek_back() twice: the second
    call is at the first record and must return False, staying put. Returns the next record read and pos."""
    buffer = io.BytesIO()
    with RecordWriter(buffer, options=options) as writer:
        writer.write_records([b"hello", b"world"])
        first = writer.last_pos
    data = buffer.getvalue()
    with RecordReader(io.BytesIO(data) if how == "file object, sequential" else data) as reader:
        if how == "bytes, seek":
            reader.seek_numeric(first.chunk_begin - 1)  # loads the chunk before it (the padding, if any)
        if how != "file object, sequential":
            reader.seek(RecordPosition(first.chunk_begin, 0))
        assert reader.read_record() == b"hello"
        assert reader.seek_back() is True
        assert reader.seek_back() is False  # already at the first record
        return reader.read_record(), reader.pos


@pytest.mark.parametrize("how", ["file object, sequential", "bytes, seek", "bytes, sequential"])
@pytest.mark.parametrize(
    "options", ["uncompressed,initial_padding", "padding", "zstd:1,initial_padding", "uncompressed", "snappy,padding"]
)
def test_seek_back_at_first_record_stays_put(options, how):
    """Regression (fixed in a1a6c9f): with 'uncompressed,initial_padding' or 'padding', the failing seek_back
    loaded the padding chunk into the scratch buffer the current (uncompressed) chunk's records still viewed,
    and the next read_record() returned b'\\x00' * 5 instead of b'hello'."""
    record, pos = _first_record_walk(options, how)
    assert record == b"hello"
    assert pos.record_index == 1


@settings(deadline=None, max_examples=examples(40))
@given(
    pieces=st.lists(st.binary(max_size=300), max_size=40),
    limits=st.lists(st.integers(1, 700), min_size=1, max_size=10),
    batch=st.integers(1, 5),
)
def test_write_all_resumes_partial_writes(pieces, limits, batch):
    """write_all writes every byte in order however few bytes each writev takes and however few buffers it accepts."""
    writes = itertools.cycle(limits)
    real_writev = os.writev

    def short_writev(fd: int, buffers: list) -> int:
        assert len(buffers) <= batch
        return real_writev(fd, [b"".join(bytes(buffer) for buffer in buffers)[: next(writes)]])

    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryFile() as handle:
        patch.setattr(os, "writev", short_writev)
        patch.setattr(riegeli_writer, "IOV_MAX", batch)
        riegeli_writer.write_all(
            handle.fileno(), [memoryview(piece) if index % 2 else piece for index, piece in enumerate(pieces)]
        )
        handle.seek(0)
        assert handle.read() == b"".join(pieces)


def test_write_all_refuses_a_writev_that_writes_nothing(monkeypatch):
    monkeypatch.setattr(os, "writev", lambda fd, buffers: 0)
    with pytest.raises(OSError, match="wrote nothing"):
        riegeli_writer.write_all(0, [b"", b"x"])
