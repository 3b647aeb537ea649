"""Transposed chunks ('t'): our writer and reader round trip every kind of record with every compression, in the C
state machine and in its Python twin (same bytes, same records, same errors); files Google's C++ writer wrote
(the array-record wheel) read back equal; damaged and forged chunks are a RiegeliError, without hanging or taking
memory the chunk does not justify. TensorFlow's reader reads ours: tests/tensorflow/test_tf_merger_reads_ours.py."""

from __future__ import annotations

import io
import tracemalloc

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import proto_splitter as ps
from proto_splitter.riegeli import RecordReader, RecordWriter, RiegeliError, SkippedRegion, transposed_chunk
from proto_splitter.riegeli.compression import BROTLI, NONE, SNAPPY, ZSTD
from proto_splitter.riegeli.format import METADATA, TRANSPOSED, ChunkHeader
from proto_splitter.riegeli.highwayhash import highway_hash
from proto_splitter.riegeli.varint import varint

from .layout import walk
from .wire_records import deep_message, field, length_delimited, records, sample_records

COMPRESSIONS = {"uncompressed": NONE, "zstd:1": ZSTD, "brotli:1": BROTLI, "snappy": SNAPPY}
OPTIONS = [
    "transpose",
    "transpose,zstd:1",
    "transpose,brotli:1",
    "transpose,snappy",
    "transpose,zstd:3,chunk_size:700,bucket_fraction:0.01",
    "transpose,chunk_size:1,padding",
]


@pytest.fixture(params=["c", "python"])
def backend(request, monkeypatch):
    """Runs a test with the C state machine, then with the Python one."""
    if request.param == "c" and not transposed_chunk.NATIVE:
        pytest.skip("the optional C extension _transposed is not built")
    monkeypatch.setattr(transposed_chunk, "NATIVE", request.param == "c")
    return request.param


def write(records: list[bytes], options: str) -> bytes:
    buffer = io.BytesIO()
    with RecordWriter(buffer, options=options) as writer:
        writer.write_records(records)
    return buffer.getvalue()


def read(data: bytes) -> list[bytes]:
    with RecordReader(data) as reader:
        return list(reader.read_records())


def both(function):
    """`function()` with the C state machine and with the Python one, as ('error', message) or its result."""
    outcomes = []
    for native in (True, False):
        saved, transposed_chunk.NATIVE = transposed_chunk.NATIVE, native and transposed_chunk.NATIVE
        try:
            outcomes.append(function())
        except RiegeliError as error:
            outcomes.append(("error", str(error)))
        finally:
            transposed_chunk.NATIVE = saved
    return outcomes


def decode(data: bytes, num_records: int, decoded_size: int) -> list[bytes]:
    values, bounds = transposed_chunk.decode(data, num_records, decoded_size, 64)
    return [bytes(values[bounds[i] : bounds[i + 1]]) for i in range(len(bounds) - 1)]


# ---- round trips ---------------------------------------------------------------------------------------------


@settings(
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],  # `backend` holds for all
)
@given(records=records, options=st.sampled_from(OPTIONS))
@example(records=[deep_message(99), deep_message(100), deep_message(101), deep_message(300)], options="transpose")
@example(records=[b"", b"", b""], options="transpose,zstd:1")
@example(records=[field(1, 3) + field(1, 4), field(1, 3) + field(2, 4)], options="transpose")  # a bad group
def test_round_trip(backend, records, options):
    data = write(records, options)
    assert read(data) == records
    chunks = [chunk for chunk in walk(data) if chunk.num_records]
    assert (chunks and {chunk.chunk_type for chunk in chunks} == {"t"}) or not records


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(records=records, compression=st.sampled_from(sorted(COMPRESSIONS)), bucket=st.sampled_from([None, 1, 50]))
def test_c_and_python_write_the_same_bytes_and_read_the_same_records(records, compression, bucket):
    if not transposed_chunk.NATIVE:
        pytest.skip("the optional C extension _transposed is not built")
    chunks = both(lambda: transposed_chunk.encode(records, COMPRESSIONS[compression], 1, None, bucket))
    assert chunks[0] == chunks[1]
    data, decoded_size = chunks[0]
    assert decoded_size == sum(map(len, records))
    assert both(lambda: decode(data, len(records), decoded_size)) == [records, records]


@pytest.mark.parametrize("options", OPTIONS)
def test_sample_records_across_chunks_and_blocks(backend, options):
    records = sample_records(3000)
    options = options.replace("chunk_size:1,", "")
    data = write(records, options + ("" if "chunk_size" in options else ",chunk_size:8K"))
    chunks = [chunk for chunk in walk(data) if chunk.num_records]
    assert len(chunks) > 5 and any(chunk.block_headers for chunk in chunks)  # records across chunks and blocks
    assert read(data) == records
    with RecordReader(data) as reader:  # positions and seeking, as for simple chunks
        positions = []
        for _ in reader.read_records():
            positions.append(reader.last_pos)
        for index in (2999, 0, 1500, 1501, 17):
            reader.seek(positions[index])
            assert reader.read_record() == records[index]
            reader.seek_numeric(positions[index].numeric)
            assert reader.read_record() == records[index]
        assert reader.read_last_record() == records[-1]
        assert reader.seek_back() and reader.seek_back()
        assert reader.read_record() == records[-2]


def test_messages_written_with_ps_write_read_back(tmp_path, backend):
    from proto_splitter.testing import test_message3_pb2 as t3

    graph = t3.Graph(version=3)
    for index in range(200):
        node = graph.node.add(name=f"n{index}", op="Add", input=[f"n{index - 1}"])
        node.attr["value"].tensor.float_val.extend([index * 0.5] * 20)
    path = ps.write(graph, tmp_path / "graph", max_chunk_size=1500, options="transpose,zstd:1")
    assert ps.read(path, t3.Graph) == graph
    assert {c.chunk_type for c in walk(open(path, "rb").read()) if c.num_records} == {"t"}


def test_non_messages_are_stored_whole_and_messages_are_split():
    message = length_delimited(1, b"abc") + field(2, 0, varint(300))
    parts = transposed_chunk.transposed_encoder.transpose([message, b"\xff\xff not a message"])
    kinds = {kind for kind, _ in parts.buffers}
    assert kinds == {0, 3, 4, 5}  # a varint buffer, a string buffer, the non-proto record and its length
    contents = [contents for _, contents in parts.buffers]
    assert b"\x03abc" in contents and b"\xff\xff not a message" in contents


# ---- Google's files ---------------------------------------------------------------------------------------------

GOOGLE_OPTIONS = [
    "transpose,uncompressed,group_size:7",
    "transpose,zstd:3,group_size:100",
    "transpose,zstd:1,group_size:1000",
    "transpose,brotli:6,group_size:64",
    "transpose,snappy,group_size:500",
    "transpose,zstd:1,transpose_bucket_size:16,group_size:50",
    "transpose,uncompressed",
    "transpose,brotli:1,group_size:5000,pad_to_block_boundary:true",
]


@pytest.fixture(scope="module")
def array_record():
    """Google's C++ Riegeli writer and reader, as the array-record wheel ships them."""
    try:
        from array_record.python import array_record_module
    except ImportError as error:  # the wheel exists for Linux and macOS, Python 3.10+ (pip install 'array-record')
        pytest.skip(f"the array-record wheel is not installed for this platform: {error}")
    return array_record_module


def google_records() -> list[bytes]:
    """Protobuf messages of several real types, odd ones, non-messages, and empty records."""
    from google.protobuf import descriptor_pb2, struct_pb2

    from proto_splitter.testing import test_message_pb2 as tm

    descriptors = descriptor_pb2.FileDescriptorSet()
    struct_pb2.DESCRIPTOR.CopyToProto(descriptors.file.add())
    tm.DESCRIPTOR.CopyToProto(descriptors.file.add())
    values = [
        struct_pb2.Value(struct_value={"name": f"n{i}", "weights": [i * 0.25, -1.5, 1e300], "ok": i % 2 == 0})
        for i in range(400)
    ]
    everything = tm.Everything()
    everything.repeateds.r_int64.extend(range(-300, 300))
    everything.scalars.f_sfixed64 = -(1 << 63)
    everything.maps.string_to_bytes["k"] = b"\x00" * 70
    return [
        *(value.SerializeToString() for value in values),
        descriptors.SerializeToString(),
        everything.SerializeToString(),
        *sample_records(700, seed=3),
        b"",
        b"\x00",
        b"\x08\x80\x00",  # a non-canonical varint
    ]


@pytest.mark.parametrize("options", GOOGLE_OPTIONS)
def test_files_written_by_google_read_back_equal(tmp_path, array_record, backend, options):
    records = google_records()
    path = str(tmp_path / "google.arecord")
    writer = array_record.ArrayRecordWriter(path, options)
    for record in records:
        writer.write(record)
    writer.close()
    assert array_record.ArrayRecordReader(path).read_all() == records
    data = open(path, "rb").read()
    assert "t" in {chunk.chunk_type for chunk in walk(data)}
    with RecordReader(path) as reader:
        got = list(reader.read_records())
    # ArrayRecord files end with footer chunks (an index of the data chunks): records after the data.
    assert got[: len(records)] == records


def test_google_reader_takes_only_array_record_files(tmp_path, array_record):
    """Why TensorFlow's reader checks our files: ArrayRecordReader wants its own footer, which a plain Riegeli
    file (ours, or Google's riegeli::RecordWriter's) does not have."""
    path = tmp_path / "plain.riegeli"
    with RecordWriter(path, options="transpose,padding") as writer:  # at least the 64 KiB it asks for
        writer.write_records(sample_records(3000))
    with pytest.raises(RuntimeError, match="RiegeliPostscript"):
        array_record.ArrayRecordReader(str(path)).read_all()


# ---- damage -----------------------------------------------------------------------------------------------------


def chunk_parts(records: list[bytes], compression: int = NONE) -> tuple[bytes, int]:
    saved, transposed_chunk.NATIVE = transposed_chunk.NATIVE, False
    try:
        data, decoded_size = transposed_chunk.encode(records, compression, 1, None, None)
    finally:
        transposed_chunk.NATIVE = saved
    return bytes(data), decoded_size


@pytest.mark.timeout(120)
@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=records,
    compression=st.sampled_from(sorted(COMPRESSIONS)),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.sampled_from("xid")), min_size=1),
)
def test_damaged_chunk_data_is_an_error_or_records_in_both_state_machines(records, compression, edits):
    """Any damage the hash would not see (a forger recomputes it): a RiegeliError naming the chunk, or records;
    the C and the Python state machines agree."""
    data, decoded_size = chunk_parts(records, COMPRESSIONS[compression])
    damaged = bytearray(data)
    for offset, value, action in edits:
        offset %= len(damaged) + 1
        if action == "x" and offset < len(damaged):
            damaged[offset] ^= value or 1
        elif action == "i":
            damaged[offset:offset] = bytes([value])
        else:
            del damaged[offset : offset + value % 4 + 1]
    outcomes = both(lambda: decode(bytes(damaged), len(records), decoded_size))
    if transposed_chunk.NATIVE:
        assert outcomes[0] == outcomes[1]
    for outcome in outcomes:
        if isinstance(outcome, tuple):
            assert outcome[1].startswith("transposed chunk at byte 64") or "chunk at byte 64" in outcome[1]


def header(fields: list[int], states: bytes = b"") -> bytes:
    """Uncompressed chunk data with a header made of these varints (then `states`), and nothing after it."""
    body = b"".join(map(varint, fields)) + states
    return b"\x00" + varint(len(body)) + body


ZSTD_FRAME_OF_1_TIB = bytes.fromhex("28b52ffde0") + (1 << 40).to_bytes(8, "little")  # a frame header, no blocks
FORGED = {
    "header larger than the chunk": b"\x00" + varint(1 << 40) + b"\x00",
    "2^32 - 1 buckets": header([(1 << 32) - 1, 0]),
    "2^32 - 1 buffers": header([1, (1 << 32) - 1]),
    "a bucket past the data": header([1, 1, 1 << 50, 1]),
    "a buffer larger than its bucket": header([1, 1, 3, 1 << 40]) + b"abc",
    "buffers larger than the records": header([1, 1, 3, 1 << 50]) + b"abc",
    "2^32 - 1 states": header([0, 0, (1 << 32) - 1]),
    "a buffer index out of range": header([0, 0, 1, 1, 0], varint(0) + varint(0)),
    "a state index out of range": header([0, 0, 1, 3, 5, 0]),
    "a first state out of range": header([0, 0, 1, 3, 0, 9]),
    "a loop of implicit transitions": header([0, 0, 2, 0, 0, 3, 2, 0]),
    "a transition past the states": header([0, 0, 1, 3, 0, 0]) + b"\xfc",
    "a zstd header declaring 1 TiB": b"z" + varint(16) + varint(1 << 40) + b"\x28\xb5\x2f\xfd" + bytes(6),
    "a zstd header and frame declaring 1 TiB": b"z" + varint(19) + varint(1 << 40) + ZSTD_FRAME_OF_1_TIB,
    "a snappy header declaring 1 TiB": b"s" + varint(12) + varint(1 << 40) + varint(1 << 40) + b"\x00",
    "repeated submessage ends": header([0, 0, 1, 8 * 2 + 6, 0, 0]) + b"\x03" * 20000,
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_forged_sizes_and_counts_are_errors_without_big_allocations(backend, name):
    tracemalloc.start()
    try:
        with pytest.raises(RiegeliError, match="chunk at byte 64"):
            decode(FORGED[name], 5, 1 << 40)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{name}: {peak} bytes"


def test_huge_declared_sizes_of_a_sound_chunk_allocate_what_the_chunk_holds(backend):
    records = sample_records(200)
    data, decoded_size = chunk_parts(records)
    tracemalloc.start()
    try:
        with pytest.raises(RiegeliError, match="the chunk header says"):
            decode(data, len(records), 1 << 42)  # 4 TiB of records, says the header
        with pytest.raises(RiegeliError, match="records, the chunk header says"):
            decode(data, 1 << 40, decoded_size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    assert decode(data, len(records), decoded_size) == records


def file_with_chunk(data: bytes, num_records: int, decoded_size: int, before: list[bytes]) -> bytes:
    """A file holding the records `before` (simple chunk), then a transposed chunk of this data, then b"after"."""
    buffer = io.BytesIO()
    with RecordWriter(buffer, options="uncompressed") as writer:
        writer.write_records(before)
        writer.flush()
        writer._write_chunk(ChunkHeader(len(data), highway_hash(data), TRANSPOSED, num_records, decoded_size), data)
        writer.write_record(b"after")
    return buffer.getvalue()


def test_reader_reports_a_damaged_transposed_chunk_and_recovery_skips_it(backend):
    records = sample_records(50)
    data, decoded_size = chunk_parts(records)
    damaged = data[:-1] + bytes([data[-1] ^ 0x55])  # the last transition byte
    file = file_with_chunk(damaged, len(records), decoded_size, [b"before"])
    begin = walk(file)[2].begin
    with pytest.raises(RiegeliError, match=f"transposed chunk at byte {begin}"):
        read(file)
    skipped: list[SkippedRegion] = []
    with RecordReader(file, recovery=lambda region: skipped.append(region) is None) as reader:
        assert list(reader.read_records()) == [b"before", b"after"]
    assert [(region.begin, region.end) for region in skipped] == [(begin, walk(file)[2].end)]
    assert read(file_with_chunk(data, len(records), decoded_size, [b"before"])) == [b"before", *records, b"after"]


def test_file_metadata_is_a_transposed_record(backend):
    """Google's writer stores file metadata (a serialized RecordsMetadata) as a transposed chunk of type 'm' with
    num_records 0, right after the file signature: read_metadata decodes it, reading records skips it."""
    metadata = length_delimited(1, b"test.Record") + length_delimited(2, b"\x0a\x05x.proto")
    data, decoded_size = chunk_parts([metadata])
    buffer = io.BytesIO()
    with RecordWriter(buffer, options="transpose") as writer:
        writer._write_chunk(ChunkHeader(len(data), highway_hash(data), METADATA, 0, decoded_size), data)
        writer.write_records([b"a", b"b"])
    with RecordReader(buffer.getvalue()) as reader:
        assert reader.read_metadata() == metadata
        assert list(reader.read_records()) == [b"a", b"b"]
    assert RecordReader(write([b"a"], "transpose")).read_metadata() is None
