"""The piece format without a network: what pieces() yields, what receive() and receive_to() accept and refuse."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import zlib

import pytest
from core.strategies import any_messages
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import proto_splitter as ps
from proto_splitter import grpc as psgrpc
from proto_splitter.testing.graphs import graph_def_like
from proto_splitter.testing.test_message3_pb2 import Graph
from proto_splitter.tf import graph_pb2

from . import conftest
from .conftest import CHUNK, PIECE, REPO, small_graph, wait_for_producers_to_stop

OPTIONS = [None, "brotli", "zstd:1", "snappy", "uncompressed,chunk_size:4096"]


def cut(message, options=None) -> list[psgrpc.Piece]:
    return list(conftest.cut(message, options))


def leftovers(folder) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("options", OPTIONS)
def test_pieces_carry_the_file_bytes(options):
    graph = small_graph()
    pieces = cut(graph, options)
    expected, is_chunked = ps.write_to_bytes(graph, max_chunk_size=CHUNK, options=options)
    assert is_chunked and b"".join(piece.data for piece in pieces) == expected
    assert len(pieces) == -(-len(expected) // PIECE)
    assert pieces[0].header == psgrpc.Header(message_type="proto_splitter.testing3.Graph", format=psgrpc.FORMAT_CHUNKED)
    offset = 0
    for index, piece in enumerate(pieces):
        assert piece.offset == offset and not piece.HasField("crc32")  # the Riegeli hashes check a .cpb
        assert piece.HasField("header") == (index == 0) and piece.last == (index == len(pieces) - 1)
        assert len(piece.data) == PIECE or piece.last
        offset += len(piece.data)
    assert psgrpc.receive(iter(pieces), Graph) == graph


def test_a_message_within_the_chunk_limit_goes_whole_as_a_pb(tmp_path):
    graph = Graph(version=3, node=[{"name": "a", "op": "Const"}])
    (piece,) = psgrpc.pieces(graph)
    assert piece.header.format == psgrpc.FORMAT_PLAIN and piece.last and piece.offset == 0
    assert piece.data == graph.SerializeToString(deterministic=True) and piece.crc32 == zlib.crc32(piece.data)
    assert psgrpc.receive([piece], Graph) == graph
    path = psgrpc.receive_to([piece], tmp_path / "model", Graph)
    assert path == str(tmp_path / "model.pb") and Graph.FromString((tmp_path / "model.pb").read_bytes()) == graph


def test_an_empty_message_is_one_empty_piece():
    (piece,) = psgrpc.pieces(Graph())
    assert piece.data == b"" and piece.last and piece.header.format == psgrpc.FORMAT_PLAIN
    assert psgrpc.receive([piece], Graph) == Graph()


def test_a_large_plain_message_is_cut_too():
    graph = small_graph()
    pieces = list(psgrpc.pieces(graph, max_chunk_size=None, piece_size=PIECE))
    assert pieces[0].header.format == psgrpc.FORMAT_PLAIN and len(pieces) == -(-graph.ByteSize() // PIECE)
    assert psgrpc.receive(pieces, Graph) == graph


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    message=any_messages(),
    max_chunk_size=st.sampled_from([None, 64, 1000, 1 << 16]),
    piece_size=st.sampled_from([PIECE, 5000, 1 << 20]),
)
def test_any_message_round_trips(message, max_chunk_size, piece_size):
    pieces = list(psgrpc.pieces(message, max_chunk_size=max_chunk_size, piece_size=piece_size))
    expected, _ = ps.write_to_bytes(message, max_chunk_size=max_chunk_size)
    assert b"".join(piece.data for piece in pieces) == expected
    assert psgrpc.receive(iter(pieces), type(message)) == message


def by_hand(data: bytes, sizes: list[int], chunked: bool) -> list[psgrpc.Piece]:
    """Pieces cut at the given sizes (the rest in one piece), then an empty last piece, as the README allows."""
    pieces, offset = [], 0
    for size in [*sizes, len(data)]:
        part = data[offset : offset + size]
        pieces.append(psgrpc.Piece(offset=offset, data=part, crc32=zlib.crc32(part)))
        offset += len(part)
    pieces.append(psgrpc.Piece(offset=offset, last=True))
    pieces[0].header.message_type = "proto_splitter.testing3.Graph"
    pieces[0].header.format = psgrpc.FORMAT_CHUNKED if chunked else psgrpc.FORMAT_PLAIN
    return pieces


@pytest.mark.parametrize("chunk", [CHUNK, None], ids=["cpb", "pb"])
def test_pieces_of_any_size_are_read(tmp_path, chunk):
    graph = small_graph()
    data, chunked = ps.write_to_bytes(graph, max_chunk_size=chunk)
    sizes = [1, 0, 7, 3, 30_000, 0, 65_536, 5]
    assert psgrpc.receive(by_hand(data, sizes, chunked), Graph) == graph
    path = psgrpc.receive_to(by_hand(data, sizes, chunked), tmp_path / "model", Graph)
    assert open(path, "rb").read() == data


def test_messages_may_follow_each_other_in_one_stream():
    first, second = small_graph(), Graph(version=9)
    stream = iter([*cut(first), *cut(second), *cut(first, "zstd:1")])
    assert psgrpc.receive(stream, Graph) == first
    assert psgrpc.receive(stream, Graph) == second
    assert psgrpc.receive(stream, Graph) == first
    assert next(stream, None) is None


def test_tensorflow_copies_announce_tensorflow_names():
    graph = graph_pb2.GraphDef(node=[{"name": "x", "op": "Const"}])
    (piece,) = psgrpc.pieces(graph)
    assert piece.header.message_type == "tensorflow.GraphDef"
    assert psgrpc.receive([piece], graph_pb2.GraphDef) == graph
    assert psgrpc.type_name(Graph) == "proto_splitter.testing3.Graph"


def _damage(kind: str, pieces: list[psgrpc.Piece]) -> list:
    if kind == "lost piece":
        del pieces[10]
    elif kind == "repeated piece":
        pieces.insert(10, pieces[10])
    elif kind == "swapped pieces":
        pieces[10], pieces[11] = pieces[11], pieces[10]
    elif kind == "cut short":
        del pieces[-3:]
    elif kind == "no header":
        pieces[0].ClearField("header")
    elif kind == "second header":
        pieces[5].header.CopyFrom(pieces[0].header)
    elif kind == "other message type":
        pieces[0].header.message_type = "tensorflow.GraphDef"
    elif kind == "unknown format":
        pieces[0].header.format = 0  # FORMAT_UNSPECIFIED
    elif kind == "not a piece":
        pieces.insert(3, Graph())
    return pieces


DAMAGE = {
    "lost piece": r"piece 10 \(at byte 40960\) says it begins at byte 45056",
    "repeated piece": r"piece 11 \(at byte 45056\) says it begins at byte 40960",
    "swapped pieces": r"piece 10 \(at byte 40960\) says it begins at byte 45056",
    "cut short": r"the stream ended after \d+ pieces \(\d+ bytes\), before its last piece",
    "no header": "the first piece has no header",
    "second header": r"piece 5 \(at byte 20480\) has a header",
    "other message type": "carries a tensorflow.GraphDef, not a proto_splitter.testing3.Graph",
    "unknown format": r"unknown format \(0\)",
    "not a piece": r"piece 3 \(at byte 12288\) is a Graph, not a proto_splitter.grpc.v1.Piece",
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_streams_are_refused_and_leave_nothing(tmp_path, kind):
    with pytest.raises(ps.TransferError, match=DAMAGE[kind]):
        psgrpc.receive(_damage(kind, cut(small_graph())), Graph)

    earlier = graph_def_like(2, constant_size=1000)
    old = ps.write(earlier, tmp_path / "model", max_chunk_size=512)  # an earlier version stays as it was
    before = (tmp_path / "model.cpb").read_bytes()
    with pytest.raises(ps.TransferError, match=DAMAGE[kind]):
        psgrpc.receive_to(_damage(kind, cut(small_graph())), tmp_path / "model", Graph)
    assert leftovers(tmp_path) == ["model.cpb"] and (tmp_path / "model.cpb").read_bytes() == before
    assert ps.read(old, Graph) == earlier


def flip_a_byte(piece: psgrpc.Piece) -> None:
    data = bytearray(piece.data)
    data[100] ^= 1
    piece.data = bytes(data)


def test_a_damaged_plain_piece_fails_its_crc(tmp_path):
    pieces = list(psgrpc.pieces(small_graph(), max_chunk_size=None, piece_size=PIECE))
    flip_a_byte(pieces[10])
    with pytest.raises(ps.TransferError, match=r"piece 10 \(at byte 40960\) is damaged"):
        psgrpc.receive(list(pieces), Graph)
    with pytest.raises(ps.TransferError, match=r"piece 10 \(at byte 40960\) is damaged"):
        psgrpc.receive_to(list(pieces), tmp_path / "model")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("with_crc", [False, True], ids=["as sent", "crc matching the damage"])
def test_a_damaged_chunked_piece_fails_the_riegeli_hashes(tmp_path, with_crc):
    pieces = cut(small_graph())
    flip_a_byte(pieces[10])
    if with_crc:
        pieces[10].crc32 = zlib.crc32(pieces[10].data)
    with pytest.raises(ps.RiegeliError, match="hash mismatch"):
        psgrpc.receive(list(pieces), Graph)
    with pytest.raises(ps.RiegeliError, match="hash mismatch"):
        psgrpc.receive_to(list(pieces), tmp_path / "model")
    assert leftovers(tmp_path) == []


def test_receive_to_refuses_a_riegeli_stream_that_is_not_a_chunked_proto(tmp_path):
    from proto_splitter import riegeli

    out = tmp_path / "records.riegeli"
    with riegeli.RecordWriter(str(out)) as writer:
        writer.write_record(b"not a ChunkMetadata")
    data = out.read_bytes()
    out.unlink()
    piece = psgrpc.Piece(
        header=psgrpc.Header(message_type="proto_splitter.testing3.Graph", format=psgrpc.FORMAT_CHUNKED),
        data=data,
        crc32=zlib.crc32(data),
        last=True,
    )
    with pytest.raises(ps.ChunkedProtoError, match="not a ChunkMetadata"):
        psgrpc.receive_to([piece], tmp_path / "model")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("graph", "written", "stale"), [(small_graph(), "model.cpb", "model.pb"), (Graph(), "model.pb", "model.cpb")]
)
def test_receive_to_writes_the_file_ps_write_would(tmp_path, graph, written, stale):
    (tmp_path / stale).write_bytes(b"an earlier version")
    path = psgrpc.receive_to(cut(graph), tmp_path / "model.cpb", Graph)  # an extension given is dropped
    assert path == str(tmp_path / written) and leftovers(tmp_path) == [written]
    assert (tmp_path / written).read_bytes() == ps.write_to_bytes(graph, max_chunk_size=CHUNK)[0]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / written).stat().st_mode) == 0o666 & ~mask
    assert ps.read(tmp_path / "model", Graph) == graph


@pytest.mark.tensorflow
def test_tensorflow_reads_what_receive_to_wrote(tmp_path, tf_merger):
    graph = small_graph()  # chunks hold whole constants: TensorFlow's Merger does not join the pieces of a value
    psgrpc.receive_to(psgrpc.pieces(graph, max_chunk_size=256 << 10, options="zstd:1"), tmp_path / "chunked", Graph)
    psgrpc.receive_to(psgrpc.pieces(graph), tmp_path / "plain", Graph)
    assert (tmp_path / "plain.pb").is_file()
    assert tf_merger.read(tmp_path / "chunked", Graph) == graph
    assert tf_merger.read(tmp_path / "plain", Graph) == graph


def test_receive_to_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ps.ChunkedFileNotFoundError, match="does not exist"):
        psgrpc.receive_to(cut(small_graph()), tmp_path / "nowhere" / "model")


def test_bad_arguments_are_refused_at_once():
    with pytest.raises(ps.ProtoSplitterError, match="expected a protobuf message"):
        psgrpc.pieces(b"bytes")
    with pytest.raises(ps.ProtoSplitterError, match="piece_size must be an integer of at least 4096"):
        psgrpc.pieces(Graph(), piece_size=100)
    with pytest.raises(ps.SplitError, match="max_chunk_size"):
        psgrpc.pieces(Graph(), max_chunk_size=0)
    with pytest.raises(ps.RiegeliError):
        psgrpc.pieces(Graph(), options="bogus:1")
    with pytest.raises(ps.ProtoSplitterError, match="expected a protobuf message class"):
        psgrpc.receive([], Graph())
    with pytest.raises(ps.ProtoSplitterError, match="expected a protobuf message class"):
        psgrpc.receive_to([], "model", message_class=int)


def test_closing_or_dropping_the_pieces_stops_the_producer():
    pieces = psgrpc.pieces(small_graph(), max_chunk_size=CHUNK, piece_size=PIECE)
    next(pieces)
    pieces.close()
    assert wait_for_producers_to_stop() == []
    pieces = psgrpc.pieces(small_graph(), max_chunk_size=CHUNK, piece_size=PIECE)
    next(pieces)
    del pieces
    assert wait_for_producers_to_stop() == []


def test_a_refused_stream_is_closed_so_its_producer_stops():
    pieces = psgrpc.pieces(graph_pb2.GraphDef(node=[{"name": "x"}] * 20000), max_chunk_size=CHUNK, piece_size=PIECE)
    with pytest.raises(ps.TransferError, match=r"carries a tensorflow\.GraphDef"):
        psgrpc.receive(pieces, Graph)
    assert wait_for_producers_to_stop() == []


def test_the_package_works_without_grpcio():
    script = textwrap.dedent("""
        import sys
        sys.modules["grpc"] = None  # import grpc now raises ImportError, as if grpcio were not installed
        import proto_splitter as ps
        from proto_splitter import grpc as psgrpc
        from proto_splitter.testing.graphs import graph_def_like
        from proto_splitter.testing.test_message3_pb2 import Graph
        graph = graph_def_like(4, constant_size=10_000, small_nodes=10)
        assert psgrpc.receive(psgrpc.pieces(graph, max_chunk_size=4096), Graph) == graph
        try:
            import grpc
        except ImportError:
            print("ok")
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=REPO, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
