"""A gRPC server in a child process killed in the middle of a stream: the client gets a clear error at once, leaves
no file behind, and its producer thread stops."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import pytest

import proto_splitter as ps
from proto_splitter import grpc as psgrpc
from proto_splitter.testing import transfer_pb2, transfer_pb2_grpc
from proto_splitter.testing.graphs import graph_def_like
from proto_splitter.testing.test_message3_pb2 import Graph

from .conftest import REPO


@contextlib.contextmanager
def dying_server() -> Iterator[tuple[subprocess.Popen, transfer_pb2_grpc.TransferStub]]:
    child = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "grpc_pieces" / "dying_server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    channel = None
    try:
        line = child.stdout.readline()
        assert line.startswith("port "), line
        channel = grpc.insecure_channel(f"127.0.0.1:{line.split()[1]}")
        yield child, transfer_pb2_grpc.TransferStub(channel)
    finally:
        if channel is not None:
            channel.close()
        child.kill()
        child.wait()


def killed_after(child: subprocess.Popen, responses, count: int) -> Iterator:
    """The responses, the server killed once `count` of them arrived."""
    for index, piece in enumerate(responses):
        if index == count:
            child.send_signal(signal.SIGKILL)
            child.wait()
        yield piece


@pytest.mark.parametrize("to_path", [False, True], ids=["whole", "to a path"])
def test_server_killed_during_a_download(tmp_path, to_path):
    with dying_server() as (child, stub):
        responses = killed_after(child, stub.Download(transfer_pb2.DownloadRequest()), 10)
        start = time.monotonic()
        broken = r"the call ended after \d+ pieces \(\d+ bytes\): (UNAVAILABLE|INTERNAL)"
        with pytest.raises(ps.TransferError, match=broken):
            if to_path:
                psgrpc.receive_to(responses, tmp_path / "model", Graph)
            else:
                psgrpc.receive(responses, Graph)
        assert time.monotonic() - start < 30
    assert os.listdir(tmp_path) == []


def test_server_dies_during_an_upload():
    graph = graph_def_like(16, constant_size=1 << 20, seed=os.urandom(1 << 20))
    with dying_server() as (child, stub):
        try:
            stub.Upload(psgrpc.pieces(graph, max_chunk_size=64 << 10, piece_size=4096), timeout=60)
        except grpc.RpcError as error:
            code = error.code()
        else:
            pytest.fail("the upload succeeded")
        assert child.wait(timeout=30) == -signal.SIGKILL
    assert code == grpc.StatusCode.UNAVAILABLE
    # the client's producer thread stops (checked after each test)
