"""Chunked protos streamed through non-seekable pipes and loopback TCP sockets between processes."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import proto_splitter as ps
from proto_splitter.testing.graphs import graph_def_like
from proto_splitter.testing.test_message3_pb2 import Graph

OPTIONS = [None, "brotli", "zstd:1", "snappy", "uncompressed,chunk_size:4096"]


def small_graph() -> Graph:
    return graph_def_like(8, constant_size=100_000, small_nodes=300, seed=bytes(range(256)) * 400)


class NonSeekable(io.RawIOBase):
    """Wraps a stream and hides seek/tell, like a pipe."""

    def __init__(self, inner):
        super().__init__()
        self._inner = inner

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def write(self, data) -> int:
        return self._inner.write(data)


@pytest.mark.parametrize("options", OPTIONS)
def test_round_trip_through_an_os_pipe(options):
    graph = small_graph()
    read_end, write_end = os.pipe()
    kinds = []

    def send() -> None:
        with open(write_end, "wb") as out:
            kinds.append(ps.write(graph, out, max_chunk_size=64 << 10, options=options))

    sender = threading.Thread(target=send)
    sender.start()
    with open(read_end, "rb") as incoming:
        received = ps.read(incoming, Graph)
    sender.join()
    assert kinds == [".cpb"] and received == graph


@pytest.mark.parametrize("options", OPTIONS)
def test_iter_chunks_equals_a_file_write(tmp_path, options):
    graph = small_graph()
    streamed = b"".join(ps.iter_chunks(graph, max_chunk_size=64 << 10, options=options))
    data, is_chunked = ps.write_to_bytes(graph, max_chunk_size=64 << 10, options=options)
    assert is_chunked and streamed == data
    assert ps.read(NonSeekable(io.BytesIO(streamed)), Graph) == graph


@pytest.mark.parametrize("max_chunk_size", [64 << 10, None], ids=["cpb", "pb"])
def test_iter_chunks_in_pieces_of_a_given_size(max_chunk_size):
    graph = small_graph()
    pieces = list(ps.iter_chunks(graph, max_chunk_size=max_chunk_size, piece_size=10_000))
    assert {len(piece) for piece in pieces[:-1]} == {10_000} and 0 < len(pieces[-1]) <= 10_000
    assert b"".join(pieces) == ps.write_to_bytes(graph, max_chunk_size=max_chunk_size)[0]
    with pytest.raises(ps.ProtoSplitterError, match="piece_size"):
        next(ps.iter_chunks(graph, piece_size=0))


class Trickle(NonSeekable):
    """A raw stream handing out at most 5 bytes a read, as a raw socket or pipe may."""

    def readinto(self, buffer) -> int:
        return super().readinto(memoryview(buffer)[:5])


@pytest.mark.parametrize("max_chunk_size", [64 << 10, None], ids=["cpb", "pb"])
def test_read_of_a_raw_stream_with_short_reads(max_chunk_size):
    graph = small_graph()
    data, _ = ps.write_to_bytes(graph, max_chunk_size=max_chunk_size)
    assert ps.read(Trickle(io.BytesIO(data)), Graph) == graph


def test_iter_chunks_can_be_abandoned():
    pieces = ps.iter_chunks(small_graph(), max_chunk_size=64 << 10)
    next(pieces)
    pieces.close()


SENDER = textwrap.dedent("""
    import socket, sys, time
    import proto_splitter as ps
    from proto_splitter.testing.graphs import graph_def_like
    graph = graph_def_like(8, constant_size=100_000, small_nodes=300, seed=bytes(range(256)) * 400)
    port, options, stall = int(sys.argv[1]), sys.argv[2] or None, sys.argv[3] == "stall"
    with socket.create_connection(("127.0.0.1", port)) as connection:
        out = connection.makefile("wb")
        if stall:
            data, _ = ps.write_to_bytes(graph, max_chunk_size=64 << 10, options=options)
            out.write(data[: len(data) // 2]); out.flush()
            print("half sent", flush=True)
            time.sleep(60)
        ps.write(graph, out, max_chunk_size=64 << 10, options=options)
        out.flush()
""")


def serve_once(options: str | None, stall: bool):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    sender = subprocess.Popen(
        [sys.executable, "-c", SENDER, str(port), options or "", "stall" if stall else "go"],
        stdout=subprocess.PIPE,
        text=True,
    )
    listener.settimeout(60)
    connection, _ = listener.accept()
    listener.close()
    return sender, connection


@pytest.mark.parametrize("options", OPTIONS)
def test_round_trip_over_a_loopback_socket_between_processes(options):
    sender, connection = serve_once(options, stall=False)
    with connection, connection.makefile("rb") as incoming:
        received = ps.read(incoming, Graph)
    assert sender.wait(timeout=60) == 0
    assert received == small_graph()


def test_sender_killed_mid_stream_is_a_clear_error():
    sender, connection = serve_once(None, stall=True)
    try:
        assert sender.stdout.readline().strip() == "half sent"
        sender.send_signal(signal.SIGKILL)
        start = time.monotonic()
        with connection, connection.makefile("rb") as incoming:
            with pytest.raises(ps.ProtoSplitterError, match=r"\d"):
                ps.read(incoming, Graph)
        assert time.monotonic() - start < 30
    finally:
        sender.kill()
        sender.wait()
