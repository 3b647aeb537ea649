"""The piece format is documented enough: a peer written only from the README and protoc's generated code
(tests/grpc_pieces/stub_only_peer.py, in a child process without proto_splitter) receives what pieces() sends,
and sends what receive() and receive_to() read. TensorFlow's Merger reads the file that peer assembled."""

from __future__ import annotations

import os
import subprocess
import sys

import grpc
import pytest

import proto_splitter as ps
from proto_splitter import grpc as psgrpc
from proto_splitter.testing import transfer_pb2, transfer_pb2_grpc
from proto_splitter.testing.test_message3_pb2 import Graph

from .conftest import REPO, small_graph

CHUNK = 256 << 10  # every constant fits a chunk: TensorFlow's Merger does not join the pieces of a value
TYPE = "proto_splitter.testing3.Graph"


@pytest.fixture
def peer(tmp_path):
    """The stub-only peer serving in a child process whose environment cannot import the library."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    child = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "tests" / "grpc_pieces" / "stub_only_peer.py"),
            str(REPO / "protos"),
            str(tmp_path),
            TYPE,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=environment,
    )
    line = child.stdout.readline()
    channel = grpc.insecure_channel(f"127.0.0.1:{line.split()[-1]}") if line.startswith("port ") else None
    try:
        assert channel is not None, f"the peer did not start: {line!r}"
        yield transfer_pb2_grpc.TransferStub(channel)
    finally:
        if channel is not None:
            channel.close()
        child.stdin.close()
        child.wait(timeout=30)


@pytest.mark.parametrize(("graph", "file"), [(small_graph(), "upload.cpb"), (Graph(version=3), "upload.pb")])
def test_the_peer_assembles_what_pieces_sends(peer, tmp_path, graph, file):
    receipt = peer.Upload(psgrpc.pieces(graph, max_chunk_size=CHUNK, options="zstd:1", piece_size=5000))
    expected, chunked = ps.write_to_bytes(graph, max_chunk_size=CHUNK, options="zstd:1")
    assert receipt.note == f"{TYPE} {'FORMAT_CHUNKED' if chunked else 'FORMAT_PLAIN'}"
    assert receipt.size == len(expected) and (tmp_path / file).read_bytes() == expected


def test_tensorflow_reads_the_file_the_peer_assembled(peer, tmp_path, tf_merger):
    graph = small_graph()
    peer.Upload(psgrpc.pieces(graph, max_chunk_size=CHUNK, options="snappy"))
    assert tf_merger.read(tmp_path / "upload", Graph) == graph


def test_the_peer_refuses_a_damaged_piece(peer):
    def damaged():  # a message sent whole: its pieces carry a CRC-32
        for piece in psgrpc.pieces(small_graph(), max_chunk_size=None, piece_size=5000):
            if piece.offset == 50_000:
                piece.data = piece.data[:-1] + b"?"
            yield piece

    with pytest.raises(grpc.RpcError, match="crc32 mismatch at byte 50000"):
        peer.Upload(damaged())


@pytest.mark.parametrize("options", [None, "brotli", "uncompressed,chunk_size:4096"])
def test_receive_reads_what_the_peer_sends(peer, tmp_path, options):
    graph = small_graph()
    ps.write(graph, tmp_path / "chunked", max_chunk_size=CHUNK, options=options)
    ps.write(graph, tmp_path / "plain")
    for name in ("chunked.cpb", "plain.pb"):
        assert psgrpc.receive(peer.Download(transfer_pb2.DownloadRequest(name=name)), Graph) == graph
        path = psgrpc.receive_to(peer.Download(transfer_pb2.DownloadRequest(name=name)), tmp_path / "got", Graph)
        assert path.endswith(name[name.index(".") :]) and ps.read(path, Graph) == graph


def test_an_empty_message_from_the_peer(peer, tmp_path):
    (tmp_path / "empty.pb").write_bytes(b"")
    assert psgrpc.receive(peer.Download(transfer_pb2.DownloadRequest(name="empty.pb")), Graph) == Graph()
