"""A message past protobuf's 2 GiB limit over a real gRPC server, up (merged whole) and down (to a file read by
TensorFlow's Merger), no piece near gRPC's 4 MiB default limit. Marked `large` (about 8 GiB, minutes)."""

from __future__ import annotations

import json
import os
import time

import pytest
from test_large_roundtrip import rss_growth

from proto_splitter import grpc as psgrpc
from proto_splitter.splitter import PROTOBUF_LIMIT, object_size
from proto_splitter.testing import transfer_pb2
from proto_splitter.testing.graphs import assert_graphs_equal, graph_def_like
from proto_splitter.testing.test_message3_pb2 import Graph

from .conftest import Store, serving

pytestmark = pytest.mark.large

CHUNK = 64 << 20


class Keeper(Store):
    """Keeps the upload, then sends it back with pieces of CHUNK-sized chunks."""

    def Download(self, request, context):
        yield from psgrpc.pieces(self.outgoing[request.name], max_chunk_size=CHUNK)


def test_past_two_gib_both_ways(tmp_path, capsys, tf_merger):
    graph = graph_def_like(1250, small_nodes=20000)  # about 2.45 GiB
    size = object_size(graph)
    assert size > PROTOBUF_LIMIT
    figures = {"message_bytes": size}
    store = Keeper()
    with serving(store) as stub:
        start = time.perf_counter()
        receipt = stub.Upload(psgrpc.pieces(graph, max_chunk_size=CHUNK, options="zstd:1"))
        figures["upload_seconds"] = time.perf_counter() - start
        assert receipt.size == size
        received = store.received.get_nowait()
        assert_graphs_equal(received, graph)
        del graph

        store.outgoing["model"] = received
        start = time.perf_counter()
        with rss_growth(figures, "download_to_path_rss_growth_bytes"):  # both sides: this process serves too
            path = psgrpc.receive_to(
                stub.Download(transfer_pb2.DownloadRequest(name="model")), tmp_path / "model", Graph
            )
        figures["download_to_path_seconds"] = time.perf_counter() - start
    assert figures["download_to_path_rss_growth_bytes"] < 2 * (2 * CHUNK + (64 << 20))
    assert path == str(tmp_path / "model.cpb")
    figures["file_bytes"] = os.path.getsize(path)
    del store, received
    assert tf_merger.read_size(tmp_path / "model", Graph) == size
    with capsys.disabled():
        print("\n> 2 GiB over gRPC:", json.dumps(figures))
