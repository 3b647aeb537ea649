"""The _pread_bytes extension: records read straight from a file into a new bytes object (the one buffer a protobuf
setter copies from), the pieces a record's Riegeli block headers interrupt left out; and RecordAccess reading
indexed records that way, every check kept. Also its pread_checked: the kept pieces read into the caller's buffer,
each span hashed while in the CPU's cache and checked against its expected HighwayHash; RecordAccess reading whole
spans that way, with the same results (and the same errors on damage) when it is not available."""

from __future__ import annotations

import io
import os
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import proto_splitter as ps
from proto_splitter import _pread_bytes, files, records
from proto_splitter import tensorflow as pstf
from proto_splitter.riegeli.highwayhash import RIEGELI_KEY, highway_hash
from proto_splitter.tf import graph_pb2

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
DATA = os.urandom(200_000)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("pread") / "data"
    path.write_bytes(DATA)
    descriptor = os.open(path, os.O_RDONLY)
    yield descriptor
    os.close(descriptor)


def expected(position: int, pieces: list[int]) -> bytes:
    kept, cursor = [], position
    for piece in pieces:
        if piece > 0:
            kept.append(DATA[cursor : cursor + piece])
        cursor += abs(piece)
    return b"".join(kept)


@SETTINGS
@given(
    position=st.integers(0, 5000),
    pieces=st.lists(st.integers(1, 9000).flatmap(lambda n: st.sampled_from([n, -n])), max_size=20),
)
def test_the_kept_pieces_are_read_into_one_bytes_object(data_file, position, pieces):
    wanted = position + sum(abs(piece) for piece in pieces)
    got = _pread_bytes.pread_bytes(data_file, position, pieces)
    if wanted > len(DATA):
        assert got is None  # the file ends first
    else:
        assert type(got) is bytes and got == expected(position, pieces)


def test_more_pieces_than_one_call_takes(data_file):
    pieces = [7, -24] * 3000 + [-10_000, 5]  # past IOV_MAX, and a skip longer than the scratch buffer
    assert _pread_bytes.pread_bytes(data_file, 3, pieces) == expected(3, pieces)


def test_bad_arguments_are_refused(data_file):
    with pytest.raises(ValueError, match="nonzero"):
        _pread_bytes.pread_bytes(data_file, 0, [5, 0])
    with pytest.raises(ValueError, match="position"):
        _pread_bytes.pread_bytes(data_file, -1, [5])
    with pytest.raises(TypeError):
        _pread_bytes.pread_bytes(data_file, 0, ["5"])
    with pytest.raises(OSError):
        _pread_bytes.pread_bytes(-1, 0, [5])
    assert _pread_bytes.pread_bytes(data_file, 0, []) == b""


def test_a_file_ending_first_is_a_riegeli_error(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(b"abc")
    raw = records.RawFile(str(path))
    try:
        assert raw.read_bytes(1, [2]) == b"bc"
        with pytest.raises(ps.RiegeliError, match="truncated"):
            raw.read_bytes(1, [1, -1, 1])
    finally:
        raw.close()
    assert records.RawFile(b"abc").read_bytes(0, [1]) is None  # not a local file: the caller reads otherwise


def constant_graph() -> graph_pb2.GraphDef:
    message = graph_pb2.GraphDef()
    for index in range(4):
        node = message.node.add(name=f"const_{index}", op="Const")
        node.attr["value"].tensor.tensor_content = bytes([index]) * (300_000 + index)
    return message


def written_file(tmp_path) -> tuple[str, graph_pb2.GraphDef]:
    message = constant_graph()
    out = io.BytesIO()
    files.write_chunked(message, out, 200_000, "chunk_size:1000")
    path = tmp_path / "graph.cpb"
    path.write_bytes(out.getvalue())
    return str(path), message


def test_indexed_values_are_read_straight_into_bytes(tmp_path, monkeypatch):
    path, message = written_file(tmp_path)
    made = []
    real = records.RawFile.read_bytes
    monkeypatch.setattr(records.RawFile, "read_bytes", lambda *args: made.append(real(*args)) or made[-1])
    with ps.open(path, graph_pb2.GraphDef) as handle:
        for index in range(4):
            assert handle.get(f"node[{index}]") == message.node[index]
    values = [node.attr["value"].tensor.tensor_content for node in message.node]
    assert [value for value in made if len(value) >= 300_000] == values  # each value one bytes object


@pytest.mark.parametrize("into", [0.0, 0.5, 0.999])
def test_a_damaged_value_read_into_bytes_is_an_error(tmp_path, into):
    path, _ = written_file(tmp_path)
    metadata = ps.read_metadata(path)
    value = [info for info in metadata.chunks if info.type == 2][2]
    data = bytearray(open(path, "rb").read())
    data[records.content_position(value.offset, 64 + int(value.size * into))] ^= 0x01
    with open(path, "wb") as damaged:
        damaged.write(data)
    with ps.open(path, graph_pb2.GraphDef) as handle, pytest.raises(ps.ProtoSplitterError, match="hash"):
        handle.get("node[2]")


def test_without_the_extension_values_are_read_as_before(tmp_path, monkeypatch):
    path, message = written_file(tmp_path)
    monkeypatch.setattr(records, "_pread_bytes", None)
    with ps.open(path, graph_pb2.GraphDef) as handle:
        assert handle.read() == message
        assert handle.get("node[3]") == message.node[3]


def test_a_large_read_is_the_same_bytes(tmp_path):
    """Reads of 4 MiB and more ask for huge pages for their buffer (where the kernel offers them): same bytes."""
    data = os.urandom(5 << 20)
    path = tmp_path / "large"
    path.write_bytes(data)
    descriptor = os.open(path, os.O_RDONLY)
    try:
        assert (
            _pread_bytes.pread_bytes(descriptor, 1, [(4 << 20) + 3, -24, 1000])
            == data[1 : (4 << 20) + 4] + data[(4 << 20) + 28 : (4 << 20) + 1028]
        )
    finally:
        os.close(descriptor)


NEEDS_CHECKED = pytest.mark.skipif(not hasattr(_pread_bytes, "pread_checked"), reason="needs AVX2 and preadv")


def span_hashes(data: bytes, span: int) -> np.ndarray:
    starts = range(0, len(data), span) if data else [0]
    return np.array([highway_hash(data[start : start + span]) for start in starts], dtype=np.uint64)


def check(descriptor: int, position: int, pieces: list[int], span: int, hashes: np.ndarray, size: int) -> tuple:
    out = np.zeros(size, dtype=np.uint8)
    return _pread_bytes.pread_checked(descriptor, position, pieces, out, span, hashes, RIEGELI_KEY), out.tobytes()


@NEEDS_CHECKED
@SETTINGS
@given(
    position=st.integers(0, 5000),
    pieces=st.lists(st.integers(1, 30_000).flatmap(lambda n: st.sampled_from([n, -n])), max_size=12),
    span=st.integers(1, 300_000),
    damaged=st.booleans(),
)
def test_the_kept_pieces_are_read_and_each_span_checked(data_file, position, pieces, span, damaged):
    wanted = expected(position, pieces)
    hashes = span_hashes(wanted, span)
    if damaged:
        hashes[-1] ^= np.uint64(1)
    matched, got = check(data_file, position, pieces, span, hashes, len(wanted))
    if position + sum(abs(piece) for piece in pieces) > os.fstat(data_file).st_size:
        assert matched is False  # the file ends first
    else:
        assert matched is (not damaged) and (damaged or got == wanted)


@NEEDS_CHECKED
def test_spans_longer_than_a_window_and_many_pieces(data_file):
    pieces = [7, -24] * 1000 + [-10_000, 150_000]  # past IOV_MAX, a skip longer than the scratch buffer
    wanted = expected(3, pieces)
    assert len(wanted) > 128 << 10  # more than the window read at a time
    for span in (len(wanted), 100_003, 65_536, 1):
        assert check(data_file, 3, pieces, span, span_hashes(wanted, span), len(wanted)) == (True, wanted)
    assert check(data_file, 0, [], 5, span_hashes(b"", 5), 0) == (True, b"")


@NEEDS_CHECKED
@pytest.mark.parametrize("position", [0, 1, 8, 24, 40, 63, 64 * 3 + 17])
@pytest.mark.parametrize("out_offset", [0, 8, 16, 33])
def test_block_structured_reads_at_every_alignment(data_file, position, out_offset):
    """Pieces as a chunk's block headers cut them (64 KiB blocks, 24-byte headers), from positions and into memory
    at offsets within a cache line that differ: read through a buffer placed as the file position is, then copied
    and hashed together; a damaged hash in a later window is refused."""
    pieces = [1000, -24, 65_512, -24, 65_512, -24, 40_000]
    wanted = expected(position, pieces)
    for span in (len(wanted), 65_536, 1000, 7):
        hashes = span_hashes(wanted, span)
        memory = np.zeros(len(wanted) + out_offset, dtype=np.uint8)
        out = memory[out_offset:]
        assert _pread_bytes.pread_checked(data_file, position, pieces, out, span, hashes, RIEGELI_KEY) is True
        assert out.tobytes() == wanted and not memory[:out_offset].any()
        hashes[-1] ^= np.uint64(1)
        assert _pread_bytes.pread_checked(data_file, position, pieces, out, span, hashes, RIEGELI_KEY) is False


@NEEDS_CHECKED
def test_a_long_skip_is_not_read_and_may_pass_the_end(data_file):
    """A left-out run longer than the bytes read through is skipped without reading it; past the file's end, the
    kept bytes after it are missing (False), as are pieces the file ends within."""
    pieces = [10, -150_000, 20]
    wanted = expected(5, pieces)
    assert check(data_file, 5, pieces, 30, span_hashes(wanted, 30), 30) == (True, wanted)
    for far in ([10, -(len(DATA) + 10), 20], [10, -(len(DATA) - 25), 20], [len(DATA) + 5]):
        size = sum(piece for piece in far if piece > 0)
        assert check(data_file, 5, far, size, np.zeros(1, dtype=np.uint64), size)[0] is False


@NEEDS_CHECKED
def test_bad_checked_arguments_are_refused(data_file):
    hashes = span_hashes(DATA[:10], 10)
    out = np.zeros(10, dtype=np.uint8)
    for arguments, match in [
        ((data_file, 0, [10], out, 0, hashes, RIEGELI_KEY), "span"),
        ((data_file, -1, [10], out, 10, hashes, RIEGELI_KEY), "position"),
        ((data_file, 0, [10], out, 10, hashes, b"short"), "key"),
        ((data_file, 0, [10], out, 5, hashes, RIEGELI_KEY), "hashes"),
        ((data_file, 0, [9], out, 10, hashes, RIEGELI_KEY), "out"),
        ((data_file, 0, [10, 0], out, 10, hashes, RIEGELI_KEY), "nonzero"),
    ]:
        with pytest.raises(ValueError, match=match):
            _pread_bytes.pread_checked(*arguments)
    with pytest.raises(TypeError):
        _pread_bytes.pread_checked(data_file, 0, [10], b"\0" * 10, 10, hashes, RIEGELI_KEY)  # not writable
    with pytest.raises(OSError):
        _pread_bytes.pread_checked(-1, 0, [10], out, 10, hashes, RIEGELI_KEY)


def big_graph() -> graph_pb2.GraphDef:
    graph = graph_pb2.GraphDef()
    for index in range(3):
        node = graph.node.add(name=f"const_{index}", op="Const")
        node.attr["value"].tensor.tensor_content = os.urandom(700_000 + index)
        node.attr["value"].tensor.dtype = 4  # DT_UINT8
        node.attr["value"].tensor.tensor_shape.dim.add(size=700_000 + index)  # span hashes: 256 KiB each
    return graph


@pytest.fixture(params=["extension", "without"])
def checked(request, monkeypatch):
    """With pread_checked, and with an extension that has only pread_bytes (built without AVX2)."""
    if request.param == "without":
        monkeypatch.setattr(records, "_pread_bytes", types.SimpleNamespace(pread_bytes=_pread_bytes.pread_bytes))
    return request.param


@NEEDS_CHECKED
def test_records_read_by_whole_spans_are_the_same(tmp_path, checked, monkeypatch):
    graph = big_graph()
    path = ps.write(graph, tmp_path / "graph", max_chunk_size=300_000)
    results = []
    real = records.RawFile.read_checked
    monkeypatch.setattr(records.RawFile, "read_checked", lambda *args: results.append(real(*args)) or results[-1])
    contents = [np.frombuffer(node.attr["value"].tensor.tensor_content, np.uint8) for node in graph.node]
    with pstf.open_graph(path, graph_pb2.GraphDef) as graph_file:
        for index, content in enumerate(contents):
            assert np.array_equal(graph_file.tensor(f"const_{index}"), content)
        for (_, got), content in zip(graph_file.tensors(), contents, strict=True):
            assert np.array_equal(got, content)
    if checked == "extension":  # values read and checked in C (False: a record not alone in its chunk, refuted)
        assert results.count(True) >= 4
    else:
        assert set(results) == {None}  # read and hashed in Python


@NEEDS_CHECKED
@pytest.mark.parametrize("into", [0.0, 0.4, 0.999])
def test_a_damaged_span_is_an_error(tmp_path, checked, into):
    path = ps.write(big_graph(), tmp_path / "graph", max_chunk_size=300_000)
    value = [info for info in ps.read_metadata(path).chunks if info.type == 2][1]
    data = bytearray(open(path, "rb").read())
    data[records.content_position(value.offset, 64 + int(value.size * into))] ^= 0x01
    with open(path, "wb") as damaged:
        damaged.write(data)
    with pstf.open_graph(path, graph_pb2.GraphDef) as graph_file:
        assert len(graph_file.tensor("const_0")) == 700_000
        with pytest.raises(ps.ProtoSplitterError, match="hash"):
            graph_file.tensor("const_1")
        with pytest.raises(ps.ProtoSplitterError, match="hash"):
            list(graph_file.tensors())
