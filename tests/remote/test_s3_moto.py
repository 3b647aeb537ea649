"""s3:// through s3fs against moto's standalone S3 server on 127.0.0.1 (started here, as s3fs's own tests run
it): writes (multipart, atomic, interrupted), whole and partial reads, the command line, damaged and missing
objects."""

from __future__ import annotations

import json

import pytest
from cli.cli_helpers import GRAPH, one_line_error, run_cli

import proto_splitter as ps
from proto_splitter import field_paths, files, remote
from proto_splitter.merger import needed_chunks
from proto_splitter.remote.ranged_file import TAIL_BYTES
from proto_splitter.testing.graphs import graph_def_like
from proto_splitter.testing.moto_server import MotoServer
from proto_splitter.testing.test_message3_pb2 import Graph

s3fs = pytest.importorskip("s3fs", reason="s3fs is a test dependency (pip install -e '.[test]')")
pytest.importorskip("moto.server", reason="moto[server] is a test dependency")

MIB = 1 << 20
BUCKET = "models"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with MotoServer(tmp_path_factory.mktemp("moto")) as started:
        started.create_bucket(BUCKET)
        yield started


@pytest.fixture(scope="module")
def s3(server):
    return s3fs.S3FileSystem(**server.storage_options)


@pytest.fixture
def folder(s3, request):
    """A fresh key prefix; what the test leaves there is listed by keys()."""
    prefix = f"{BUCKET}/{request.node.name}"
    yield f"s3://{prefix}"
    if s3.exists(prefix):
        s3.rm(prefix, recursive=True)


def keys(s3, url: str) -> list[str]:
    s3.invalidate_cache()
    prefix = url.removeprefix("s3://")
    return sorted(path.removeprefix(prefix + "/") for path in s3.find(prefix))


def uploads_in_progress(s3) -> list:
    return s3.call_s3("list_multipart_uploads", Bucket=BUCKET).get("Uploads", [])


@pytest.fixture(scope="module")
def graph() -> Graph:
    """About 21 MiB: 20 constants of 1 MiB, written in chunks of at most 2 MiB."""
    return graph_def_like(20, constant_size=MIB + 1000, small_nodes=500)


def test_write_read_and_partial_read(server, s3, folder, graph):
    options = server.storage_options
    path = ps.write(graph, f"{folder}/model", max_chunk_size=2 * MIB, storage_options=options)
    assert path == f"{folder}/model.cpb"
    assert keys(s3, folder) == ["model.cpb"]
    assert s3.info(path)["ETag"].strip('"').endswith(f"-{-(-s3.size(path) // remote.destination.PART_SIZE)}")
    assert ps.read(f"{folder}/model", Graph, storage_options=options) == graph
    assert ps.read_metadata(path, storage_options=options) == ps.read_metadata(ps.write_to_bytes(graph, 2 * MIB)[0])
    with remote.open_remote(path, storage_options=options) as file:
        part = ps.read_partial(file, Graph, ["node[13]"])
        assert part.node[13] == graph.node[13]
        assert file.stats.requests <= 4  # size, tail, signature, the chunk
        assert file.stats.bytes < MIB + 1000 + 64 * 1024 + TAIL_BYTES + 64 * 1024
    with remote.open_remote(path, storage_options=options, max_request=3 * MIB) as file:
        assert ps.read(file, Graph) == graph
        assert file.stats.largest_request <= 3 * MIB


def test_a_small_message_replaces_the_chunked_one(server, s3, folder, graph):
    options = server.storage_options
    ps.write(graph, f"{folder}/model", max_chunk_size=2 * MIB, storage_options=options)
    small = graph_def_like(2, constant_size=1000)
    assert ps.write(small, f"{folder}/model", storage_options=options) == f"{folder}/model.pb"
    assert keys(s3, folder) == ["model.pb"]
    assert ps.read(f"{folder}/model", Graph, storage_options=options) == small


def test_interrupted_write_leaves_no_object_and_no_upload(server, s3, folder, graph, monkeypatch):
    original, written = files.RecordSink._write, []

    def failing(self, data, chunk_type):
        if len(written) == 12:  # past the first 8 MiB part: the multipart upload has begun
            raise KeyboardInterrupt
        written.append(len(data))
        return original(self, data, chunk_type)

    monkeypatch.setattr(files.RecordSink, "_write", failing)
    with pytest.raises(KeyboardInterrupt):
        ps.write(graph, f"{folder}/model", max_chunk_size=2 * MIB, storage_options=server.storage_options)
    assert sum(written) > remote.destination.PART_SIZE
    assert keys(s3, folder) == []
    assert uploads_in_progress(s3) == []


def test_missing_and_damaged_objects(server, s3, folder, graph):
    options = server.storage_options
    with pytest.raises(ps.ChunkedFileNotFoundError, match="absent"):
        ps.read(f"{folder}/absent", Graph, storage_options=options)
    data = bytearray(ps.write_to_bytes(graph, 2 * MIB)[0])
    metadata = ps.read_metadata(bytes(data))
    node_7 = needed_chunks(metadata.message, Graph.DESCRIPTOR, [field_paths.parse("node[7]", Graph.DESCRIPTOR)])[-1]
    data[metadata.chunks[node_7].offset + 100_000] ^= 0x01
    s3.pipe(f"{folder}/damaged.cpb".removeprefix("s3://"), bytes(data))
    with pytest.raises(ps.RiegeliError, match="hash mismatch"):
        ps.read(f"{folder}/damaged.cpb", Graph, storage_options=options)
    with pytest.raises(ps.RiegeliError, match="hash mismatch"):
        ps.read_partial(f"{folder}/damaged.cpb", Graph, ["node[7]"], storage_options=options)
    assert (
        ps.read_partial(f"{folder}/damaged.cpb", Graph, ["node[8]"], storage_options=options).node[8] == (graph.node[8])
    )


def test_storage_options_reach_s3fs(server, folder, graph):
    """Every other test passes the server's endpoint this way; here a wrong one is used, and fails cleanly."""
    no_retries = {"retries": {"max_attempts": 1}, "connect_timeout": 1}
    wrong = dict(server.storage_options, endpoint_url="http://127.0.0.1:9", config_kwargs=no_retries)
    with pytest.raises(remote.RemoteReadError, match=r"127\.0\.0\.1:9"):
        ps.read(f"{folder}/model.cpb", Graph, storage_options=wrong)
    with pytest.raises(ps.ProtoSplitterError, match=r"127\.0\.0\.1:9"):
        ps.write(graph, f"{folder}/model", max_chunk_size=2 * MIB, storage_options=wrong)


def test_command_line_on_s3(server, s3, folder, graph):
    options = json.dumps(server.storage_options)
    path = ps.write(graph, f"{folder}/model", max_chunk_size=2 * MIB, storage_options=server.storage_options)
    info = run_cli("info", path, "--type", GRAPH, "--json", "--storage-options", options)
    assert info.code == 0, info.err
    report = info.json()
    metadata = ps.read_metadata(path, storage_options=server.storage_options)
    assert report["file"] == path and report["chunk_count"] == len(metadata.chunks)
    assert all(chunk["compression"] == "none" for chunk in report["chunks"])
    verify = run_cli("verify", f"{folder}/model", "--type", GRAPH, "--storage-options", options)
    assert verify.code == 0, verify.out + verify.err
    assert "OK" in verify.out and "merge as proto_splitter.testing3.Graph: OK" in verify.out
    extract = run_cli("extract", path, "node[4].name", "--type", GRAPH, "--storage-options", options)
    assert (extract.code, extract.out) == (0, "const_4\n")

    data = bytearray(s3.cat(path.removeprefix("s3://")))
    data[ps.read_metadata(bytes(data)).chunks[3].offset + 1000] ^= 0x01
    s3.pipe(f"{folder}/damaged.cpb".removeprefix("s3://"), bytes(data))
    damaged = run_cli("verify", f"{folder}/damaged.cpb", "--json", "--storage-options", options)
    assert damaged.code == 1
    assert damaged.json()["lost_chunks"] == [3]

    missing = run_cli("info", f"{folder}/absent.cpb", "--storage-options", options)
    assert missing.code == 2
    assert "absent" in one_line_error(missing, "info")
    bad = run_cli("info", path, "--storage-options", "[1]")
    assert bad.code == 2 and "JSON object" in bad.err
