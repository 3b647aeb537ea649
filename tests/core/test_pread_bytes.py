"""The _pread_bytes extension: records read straight from a file into a new bytes object (the one buffer a protobuf
setter copies from), the pieces a record's Riegeli block headers interrupt left out; and RecordAccess reading
indexed records that way, every check kept."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import proto_splitter as ps
from proto_splitter import _pread_bytes, files, records
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
