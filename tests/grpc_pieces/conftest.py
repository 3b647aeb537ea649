"""gRPC servers on 127.0.0.1 in the test process, and the check that no piece producer thread outlives a test."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

import proto_splitter as ps
from proto_splitter import grpc as psgrpc
from proto_splitter.testing import transfer_pb2, transfer_pb2_grpc
from proto_splitter.testing.graphs import graph_def_like
from proto_splitter.testing.test_message3_pb2 import Graph

REPO = Path(__file__).resolve().parents[2]
PRODUCER = "proto-splitter-iter-chunks"
CHUNK = 64 << 10
PIECE = 4096


def small_graph() -> Graph:
    """About 0.8 MB: with 64 KiB chunks and 4 KiB pieces, a .cpb of about 200 pieces."""
    return graph_def_like(8, constant_size=100_000, small_nodes=300, seed=bytes(range(256)) * 400)


def cut(message, options=None):
    """The pieces of `message` in 64 KiB chunks and 4 KiB pieces: many of each for a small message."""
    return psgrpc.pieces(message, max_chunk_size=CHUNK, options=options, piece_size=PIECE)


def producers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == PRODUCER]


def wait_for_producers_to_stop(timeout: float = 20) -> list[threading.Thread]:
    """The producer threads still running after `timeout` seconds (none, if all stopped)."""
    deadline = time.monotonic() + timeout
    while producers() and time.monotonic() < deadline:
        time.sleep(0.02)
    return producers()


@pytest.fixture(autouse=True)
def no_producer_left() -> Iterator[None]:
    """Every test ends with no thread producing pieces (calls finished or cancelled stop theirs)."""
    assert producers() == [], "a producer thread was left by an earlier test"
    yield
    assert wait_for_producers_to_stop() == []


@contextlib.contextmanager
def serving(servicer: transfer_pb2_grpc.TransferServicer, workers: int = 8) -> Iterator[transfer_pb2_grpc.TransferStub]:
    """A real gRPC server on a free port of 127.0.0.1 running `servicer`, and a stub connected to it."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    transfer_pb2_grpc.add_TransferServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield transfer_pb2_grpc.TransferStub(channel)
    finally:
        channel.close()
        server.stop(grace=None).wait()


class Store(transfer_pb2_grpc.TransferServicer):
    """Keeps what is uploaded (whole, or written under `folder` when given), sends what `outgoing` names, echoes."""

    def __init__(self, folder=None, options=None):
        self.folder, self.options = folder, options
        self.outgoing: dict[str, Graph] = {}
        self.received: queue.Queue = queue.Queue()

    def Upload(self, request_iterator, context):
        try:
            if self.folder is not None:
                got = psgrpc.receive_to(request_iterator, self.folder / "model", Graph)
            else:
                got = psgrpc.receive(request_iterator, Graph)
        except ps.ProtoSplitterError as error:
            self.received.put(error)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        self.received.put(got)
        size = os.path.getsize(got) if isinstance(got, str) else got.ByteSize()
        return transfer_pb2.Receipt(size=size, note=got if isinstance(got, str) else "")

    def Download(self, request, context):
        yield from cut(self.outgoing[request.name], self.options)

    def Echo(self, request_iterator, context):
        yield from cut(psgrpc.receive(request_iterator, Graph), self.options)
