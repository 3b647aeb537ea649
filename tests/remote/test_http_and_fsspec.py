"""Lazy remote reads over a real HTTP server on 127.0.0.1 (ranged GETs) and through fsspec."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

import proto_splitter as ps
from proto_splitter.remote import HTTP_MAX_REQUEST, RemoteReadError, open_remote
from proto_splitter.testing.graphs import graph_def_like
from proto_splitter.testing.range_server import RangeServer
from proto_splitter.testing.test_message3_pb2 import Graph

MIB = 1 << 20


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """A 1 GiB `.cpb`: 512 constants of 2 MiB plus 2,000 small nodes."""
    folder = tmp_path_factory.mktemp("served")
    graph = graph_def_like(512, small_nodes=2000)
    assert ps.write(graph, folder / "model", max_chunk_size=64 * MIB).endswith(".cpb")
    wanted = graph.node[300]
    del graph
    return folder, wanted


def test_read_partial_of_one_constant_transfers_little(big_file):
    folder, wanted = big_file
    with RangeServer(folder) as server:
        part = ps.read_partial(server.url("model.cpb"), Graph, ["node[300]"])
        assert part.node[300] == wanted
        assert server.bytes_served < 5 * MIB, server.bytes_served
        assert server.requests <= 4, server.requests


def test_read_metadata_over_http_reads_only_the_tail(big_file):
    folder, _ = big_file
    with RangeServer(folder) as server:
        metadata = ps.read_metadata(server.url("model.cpb"))
        assert metadata == ps.read_metadata(folder / "model.cpb")
        assert server.requests <= 2 and server.bytes_served < 1 * MIB


def test_remote_reader_exposes_its_transfer_counts(big_file):
    folder, _ = big_file
    with RangeServer(folder) as server:
        remote = open_remote(server.url("model.cpb"))
        remote.seek(1000)
        assert remote.read(10) == (folder / "model.cpb").read_bytes()[1000:1010]
        assert remote.stats.requests == server.requests
        assert remote.stats.bytes == server.bytes_served


def test_whole_read_over_http(tmp_path):
    graph = graph_def_like(6, constant_size=300_000, small_nodes=100)
    assert ps.write(graph, tmp_path / "small", max_chunk_size=1 << 20).endswith(".cpb")
    with RangeServer(tmp_path) as server:
        assert ps.read(server.url("small.cpb"), Graph) == graph


def test_missing_url_is_a_clear_error(tmp_path):
    with RangeServer(tmp_path) as server:
        with pytest.raises(ps.ChunkedFileNotFoundError, match=r"absent\.cpb"):
            ps.read_metadata(server.url("absent.cpb"))
        with pytest.raises(RemoteReadError, match="404"):
            open_remote(server.url("absent.cpb"))


def test_short_range_answer_is_a_clear_error(tmp_path):
    graph = graph_def_like(4, constant_size=300_000)
    assert ps.write(graph, tmp_path / "g", max_chunk_size=1 << 20).endswith(".cpb")
    with RangeServer(tmp_path, mode="short") as server:
        with pytest.raises(ps.ProtoSplitterError):
            ps.read(server.url("g.cpb"), Graph)


def test_truncated_remote_file_is_a_clear_error(tmp_path):
    graph = graph_def_like(4, constant_size=300_000)
    path = ps.write(graph, tmp_path / "g", max_chunk_size=512 << 10)
    data = open(path, "rb").read()
    (tmp_path / "cut.cpb").write_bytes(data[: len(data) // 2])
    with RangeServer(tmp_path) as server:
        with pytest.raises(ps.ProtoSplitterError):
            ps.read(server.url("cut.cpb"), Graph)


def test_fsspec_urls(tmp_path):
    fsspec = pytest.importorskip("fsspec", reason="fsspec is the optional [remote] extra")
    graph = graph_def_like(5, constant_size=200_000, small_nodes=50)
    path = ps.write(graph, tmp_path / "g", max_chunk_size=256 << 10)
    assert path.endswith(".cpb")
    assert ps.read(f"file://{path}", Graph) == graph
    with fsspec.open("memory://bucket/g.cpb", "wb") as out:
        shutil.copyfileobj(open(path, "rb"), out)
    assert ps.read_partial("memory://bucket/g.cpb", Graph, ["node[2]"]).node[2] == graph.node[2]
    assert ps.read_metadata("memory://bucket/g.cpb") == ps.read_metadata(path)
    with pytest.raises(ps.ProtoSplitterError):
        ps.read("memory://bucket/absent.cpb", Graph)


def test_whole_read_over_http_makes_capped_requests(big_file):
    folder, wanted = big_file
    size = (folder / "model.cpb").stat().st_size
    with RangeServer(folder) as server:
        graph = ps.read(server.url("model"), Graph)  # a prefix finds model.cpb, as for local paths
        assert graph.node[300] == wanted and len(graph.node) == 2512
        del graph
        assert server.largest_answer <= HTTP_MAX_REQUEST
        assert server.requests <= size // HTTP_MAX_REQUEST + 8  # capped requests, plus the tail and a few strays
        assert server.bytes_served < size * 1.02


def test_whole_read_holds_a_window_of_pieces(tmp_path):
    graph = graph_def_like(80, constant_size=500_000, small_nodes=200)
    assert ps.write(graph, tmp_path / "g", max_chunk_size=1 << 20).endswith(".cpb")
    size = (tmp_path / "g.cpb").stat().st_size
    with RangeServer(tmp_path) as server, open_remote(server.url("g.cpb"), max_request=MIB, parallel=2) as remote:
        assert ps.read(remote, Graph) == graph
        assert server.bytes_served < size * 1.02  # each byte fetched once, or nearly
        assert ps.read_partial(remote, Graph, ["node[7]"]).node[7] == graph.node[7]  # the file can be reused
        assert server.largest_answer <= MIB
        # the window (2 requests), a request for each of the 2 read-ahead threads, 2 pieces read outside the plan
        assert remote.stats.peak_held <= (2 + 2 + 2) * MIB
        assert remote.held <= 2 * MIB  # what the merges read is dropped


def test_server_ignoring_range_is_refused(tmp_path):
    graph = graph_def_like(4, constant_size=300_000)
    ps.write(graph, tmp_path / "g", max_chunk_size=1 << 20)
    with RangeServer(tmp_path, mode="ignore-ranges") as server:
        with pytest.raises(RemoteReadError, match=r"ignored the range request \(HTTP 200"):
            ps.read(server.url("g.cpb"), Graph)


def test_connection_dropped_mid_body_is_an_error(tmp_path):
    graph = graph_def_like(4, constant_size=300_000)
    ps.write(graph, tmp_path / "g", max_chunk_size=1 << 20)
    with RangeServer(tmp_path, mode="drop") as server:
        with pytest.raises(RemoteReadError, match="connection ended after"):
            ps.read(server.url("g.cpb"), Graph)


@pytest.mark.timeout(60)
def test_a_stalled_server_times_out(tmp_path):
    (tmp_path / "g.cpb").write_bytes(b"x" * 1000)
    with RangeServer(tmp_path, mode="stall") as server:
        with pytest.raises(RemoteReadError, match="timed out"):
            open_remote(server.url("g.cpb"), timeout=0.5)


def test_storage_options_are_request_headers_for_http(tmp_path):
    graph = graph_def_like(3, constant_size=300_000)
    assert ps.write(graph, tmp_path / "g", max_chunk_size=500_000).endswith(".cpb")
    with RangeServer(tmp_path, required_headers={"Authorization": "Bearer token"}) as server:
        with pytest.raises(RemoteReadError, match="403"):
            ps.read(server.url("g.cpb"), Graph)
        options = {"Authorization": "Bearer token"}
        assert ps.read(server.url("g.cpb"), Graph, storage_options=options) == graph
        assert ps.read_metadata(server.url("g.cpb"), storage_options=options) == ps.read_metadata(tmp_path / "g.cpb")
        with pytest.raises(RemoteReadError, match="request headers"):
            ps.read(server.url("g.cpb"), Graph, storage_options={"timeout": 3})


def test_a_plain_pb_over_http(tmp_path):
    graph = graph_def_like(3, constant_size=300_000)
    assert ps.write(graph, tmp_path / "small").endswith(".pb")
    with RangeServer(tmp_path) as server:
        assert ps.read(server.url("small"), Graph) == graph
        assert ps.read_partial(server.url("small.pb"), Graph, ["node[1]"]).node[1] == graph.node[1]
        with pytest.raises(ps.ChunkedProtoError, match="plain serialized message"):
            ps.read_metadata(server.url("small.pb"))


def test_threads_reading_parts_of_one_remote_file(tmp_path):
    graph = graph_def_like(24, constant_size=400_000, small_nodes=100)
    assert ps.write(graph, tmp_path / "g", max_chunk_size=500_000).endswith(".cpb")
    with RangeServer(tmp_path) as server, open_remote(server.url("g.cpb"), max_request=MIB) as shared:

        def read_node(index: int) -> bool:
            return ps.read_partial(shared, Graph, [f"node[{index}]"]).node[index] == graph.node[index]

        with ThreadPoolExecutor(6) as pool:
            assert all(pool.map(read_node, [*range(24), *range(23, -1, -1)]))
            whole = [pool.submit(ps.read, shared, Graph) for _ in range(3)]
            assert all(future.result() == graph for future in whole)
        assert shared.held == 0
