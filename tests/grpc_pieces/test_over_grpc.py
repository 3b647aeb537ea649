"""Messages through a real gRPC server on 127.0.0.1: both directions, every option, cancellation from either side,
concurrent calls."""

from __future__ import annotations

import os
import re
import threading
from concurrent import futures

import grpc
import pytest

import proto_splitter as ps
from proto_splitter import grpc as psgrpc
from proto_splitter.testing import transfer_pb2
from proto_splitter.testing.graphs import graph_def_like
from proto_splitter.testing.test_message3_pb2 import Graph

from .conftest import CHUNK, Store, cut, serving, small_graph, wait_for_producers_to_stop

OPTIONS = [None, "brotli", "zstd:1", "snappy", "uncompressed,chunk_size:4096"]


@pytest.mark.parametrize("options", OPTIONS)
def test_upload_round_trip(options):
    graph, store = small_graph(), Store()
    with serving(store) as stub:
        receipt = stub.Upload(cut(graph, options))
    assert store.received.get_nowait() == graph and receipt.size == graph.ByteSize()


@pytest.mark.parametrize("options", OPTIONS)
def test_upload_to_a_path_round_trip(tmp_path, options):
    graph, store = small_graph(), Store(folder=tmp_path)
    with serving(store) as stub:
        receipt = stub.Upload(cut(graph, options))
    assert receipt.note == str(tmp_path / "model.cpb") and os.listdir(tmp_path) == ["model.cpb"]
    assert (tmp_path / "model.cpb").read_bytes() == ps.write_to_bytes(graph, max_chunk_size=CHUNK, options=options)[0]
    assert ps.read(tmp_path / "model", Graph) == graph


@pytest.mark.parametrize("options", OPTIONS)
def test_download_round_trip(tmp_path, options):
    graph, store = small_graph(), Store(options=options)
    store.outgoing["model"] = graph
    with serving(store) as stub:
        assert psgrpc.receive(stub.Download(transfer_pb2.DownloadRequest(name="model")), Graph) == graph
        path = psgrpc.receive_to(stub.Download(transfer_pb2.DownloadRequest(name="model")), tmp_path / "model")
    assert path == str(tmp_path / "model.cpb") and ps.read(path, Graph) == graph


@pytest.mark.parametrize("options", OPTIONS)
def test_stream_stream_round_trip(options):
    graph = small_graph()
    with serving(Store(options=options)) as stub:
        assert psgrpc.receive(stub.Echo(cut(graph, options)), Graph) == graph


def big_graph() -> Graph:
    """About 16 MB: 4,000 pieces, far more than gRPC buffers, so that a call is cancelled mid-way."""
    return graph_def_like(16, constant_size=1 << 20, seed=os.urandom(1 << 20))


def test_client_cancels_a_download():
    store = Store()
    store.outgoing["big"] = big_graph()
    with serving(store) as stub:
        call = stub.Download(transfer_pb2.DownloadRequest(name="big"))

        def cancelled_after_two_pieces():
            for index, piece in enumerate(call):
                if index == 2:
                    call.cancel()
                yield piece

        with pytest.raises(ps.TransferError, match=r"the call ended after 3 pieces \(12288 bytes\): CANCELLED"):
            psgrpc.receive(cancelled_after_two_pieces(), Graph)
        assert wait_for_producers_to_stop() == []  # the server's producer stopped while the server runs


def test_cancelling_a_download_being_received(tmp_path):
    store = Store()
    store.outgoing["big"] = big_graph()
    with serving(store) as stub:
        call = stub.Download(transfer_pb2.DownloadRequest(name="big"))
        arrived = threading.Event()

        def watched():
            for index, piece in enumerate(call):
                if index == 10:
                    arrived.set()
                yield piece

        with futures.ThreadPoolExecutor(1) as pool:
            receiving = pool.submit(psgrpc.receive_to, watched(), tmp_path / "model", Graph)
            assert arrived.wait(30)
            call.cancel()
            with pytest.raises(ps.TransferError, match=r"CANCELLED"):
                receiving.result(timeout=30)
    assert os.listdir(tmp_path) == []


def test_server_aborts_a_download_mid_way():
    class Aborting(Store):
        def Download(self, request, context):
            for index, piece in enumerate(cut(big_graph())):
                if index == 20:
                    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "the server changed its mind")
                yield piece

    with serving(Aborting()) as stub:
        with pytest.raises(ps.TransferError, match=r"RESOURCE_EXHAUSTED \(the server changed its mind\)"):
            psgrpc.receive(stub.Download(transfer_pb2.DownloadRequest(name="big")), Graph)


def test_server_refuses_an_upload_mid_way():
    class Refusing(Store):
        def Upload(self, request_iterator, context):
            for index, _ in enumerate(request_iterator):
                if index == 20:
                    context.abort(grpc.StatusCode.PERMISSION_DENIED, "no more")

    with serving(Refusing()) as stub:
        assert upload_status(stub, cut(big_graph())) == (grpc.StatusCode.PERMISSION_DENIED, "no more")
    # the client's producer stops once the request iterator is dropped (checked after each test)


def upload_status(stub, pieces) -> tuple[grpc.StatusCode, str]:
    """The status of an upload that fails. (Not pytest.raises: the traceback of an exception kept in a variable of
    the test's own frame holds the request iterator, hence its producer thread, until the garbage collector runs.)"""
    try:
        stub.Upload(pieces)
    except grpc.RpcError as error:
        return error.code(), error.details()
    raise AssertionError("the upload succeeded")


def test_server_refuses_another_message_type(tmp_path):
    store = Store(folder=tmp_path)
    with serving(store) as stub:
        code, details = upload_status(stub, cut(transfer_pb2.Receipt(note="x" * 100_000)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "carries a proto_splitter.testing.Receipt" in details
    assert isinstance(store.received.get_nowait(), ps.TransferError) and os.listdir(tmp_path) == []


@pytest.mark.parametrize("to_path", [False, True], ids=["whole", "to a path"])
def test_client_cancels_an_upload(tmp_path, to_path):
    store = Store(folder=tmp_path if to_path else None)
    sent = threading.Event()

    def pieces():
        for index, piece in enumerate(cut(big_graph())):
            if index == 20:
                sent.set()
            yield piece

    with serving(store) as stub:
        upload = stub.Upload.future(pieces())
        assert sent.wait(30)
        upload.cancel()
        error = store.received.get(timeout=30)
    # gRPC hands the servicer either an error or the end of the requests: both are a stream cut short
    assert isinstance(error, ps.TransferError) and re.match(r"the (call|stream) ended after \d+ pieces", str(error))
    assert os.listdir(tmp_path) == []


def test_concurrent_calls():
    graphs = {
        f"graph{index}": graph_def_like(4, constant_size=150_000, seed=bytes([index]) * 150_000) for index in range(6)
    }
    store = Store(options="snappy")
    store.outgoing.update(graphs)
    with serving(store, workers=16) as stub:

        def upload(name):
            return stub.Upload(cut(graphs[name], "zstd:1")).size

        def download(name):
            return psgrpc.receive(stub.Download(transfer_pb2.DownloadRequest(name=name)), Graph)

        def echo(name):
            return psgrpc.receive(stub.Echo(cut(graphs[name])), Graph)

        with futures.ThreadPoolExecutor(12) as pool:
            uploads = {name: pool.submit(upload, name) for name in graphs}
            downloads = {name: pool.submit(download, name) for name in graphs}
            echoes = {name: pool.submit(echo, name) for name in graphs}
            for name, graph in graphs.items():
                assert uploads[name].result(timeout=120) == graph.ByteSize()
                assert downloads[name].result(timeout=120) == graph
                assert echoes[name].result(timeout=120) == graph
    received = [store.received.get_nowait() for _ in graphs]
    assert sorted(graph.node[0].attr["value"].tensor.content[4] for graph in received) == list(range(6))
