"""Writes that appear only once complete: local paths, file:// and memory:// URLs (S3 is in test_s3_moto.py);
a write interrupted by an exception leaves nothing under the final name and no temporary file or key."""

from __future__ import annotations

import os
import stat

import pytest

import proto_splitter as ps
from proto_splitter import files, remote
from proto_splitter.testing.graphs import graph_def_like
from proto_splitter.testing.test_message3_pb2 import Graph

fsspec = pytest.importorskip("fsspec", reason="fsspec is the optional [remote] extra")


@pytest.fixture(scope="module")
def big() -> Graph:
    return graph_def_like(10, constant_size=300_000, small_nodes=100)


@pytest.fixture(scope="module")
def small() -> Graph:
    return graph_def_like(2, constant_size=1000, small_nodes=3)


@pytest.fixture
def memory_prefix(request):
    """A fresh folder in fsspec's memory filesystem; it must hold only what the test expects."""
    memory = fsspec.filesystem("memory")
    folder = f"memory://writes/{request.node.name}"
    yield folder
    if memory.exists(folder):
        memory.rm(folder, recursive=True)


def listing(folder: str) -> list[str]:
    memory = fsspec.filesystem("memory")
    return sorted(os.path.basename(path) for path in memory.ls(folder, detail=False)) if memory.exists(folder) else []


class Interrupted(Exception):
    pass


@pytest.fixture
def interrupt_after_chunks(monkeypatch):
    """Makes ps.write raise after writing a few chunks, as a failure half-way would."""
    original = files.RecordSink._write
    written = []

    def failing(self, data, chunk_type):
        if len(written) == 4:
            raise Interrupted("stopped half-way")
        written.append(1)
        return original(self, data, chunk_type)

    monkeypatch.setattr(files.RecordSink, "_write", failing)
    return written


def test_local_destination_appears_only_at_commit(tmp_path):
    target = tmp_path / "out.bin"
    with remote.open_destination(target) as destination:
        destination.file.write(b"complete")
        assert not target.exists()
    assert target.read_bytes() == b"complete"
    with pytest.raises(Interrupted), remote.open_destination(target) as destination:
        destination.file.write(b"half")
        raise Interrupted()
    assert target.read_bytes() == b"complete"
    assert os.listdir(tmp_path) == ["out.bin"]
    destination = remote.open_destination(tmp_path / "given-up.bin")
    destination.file.write(b"x")
    destination.discard()
    assert os.listdir(tmp_path) == ["out.bin"]


def test_pb_and_cpb_get_the_same_file_mode(tmp_path, big, small):
    mask = os.umask(0o027)
    try:
        modes = {
            stat.S_IMODE(os.stat(ps.write(message, tmp_path / name, max_chunk_size=256 << 10)).st_mode)
            for message, name in ((big, "big"), (small, "small"))
        }
    finally:
        os.umask(mask)
    assert modes == {0o640}


def test_write_to_memory_url_round_trips_and_removes_the_stale_sibling(memory_prefix, big, small):
    path = ps.write(big, f"{memory_prefix}/model", max_chunk_size=256 << 10)
    assert path == f"{memory_prefix}/model.cpb"
    assert listing(memory_prefix) == ["model.cpb"]
    assert ps.read(f"{memory_prefix}/model", Graph) == big
    assert ps.write(small, f"{memory_prefix}/model.cpb") == f"{memory_prefix}/model.pb"
    assert listing(memory_prefix) == ["model.pb"]
    assert ps.read(f"{memory_prefix}/model", Graph) == small


def test_interrupted_write_to_memory_url_leaves_nothing(memory_prefix, big, interrupt_after_chunks):
    with pytest.raises(Interrupted):
        ps.write(big, f"{memory_prefix}/model", max_chunk_size=256 << 10)
    assert interrupt_after_chunks  # it did stop half-way
    assert listing(memory_prefix) == []


def test_interrupted_write_keeps_the_previous_version(memory_prefix, big, small, interrupt_after_chunks):
    ps.write(small, f"{memory_prefix}/model")
    with pytest.raises(Interrupted):
        ps.write(big, f"{memory_prefix}/model", max_chunk_size=256 << 10)
    assert listing(memory_prefix) == ["model.pb"]
    assert ps.read(f"{memory_prefix}/model", Graph) == small


def test_interrupted_local_write_leaves_nothing(tmp_path, big, interrupt_after_chunks):
    with pytest.raises(Interrupted):
        ps.write(big, tmp_path / "model", max_chunk_size=256 << 10)
    assert os.listdir(tmp_path) == []


def test_file_url_is_a_local_path(tmp_path, big):
    path = ps.write(big, f"file://{tmp_path}/model", max_chunk_size=256 << 10)
    assert path == f"{tmp_path}/model.cpb"
    assert ps.read(f"file://{tmp_path}/model.cpb", Graph) == big
    with pytest.raises(ps.ProtoSplitterError, match="local file"):
        ps.read("file://elsewhere/model.cpb", Graph)


def test_a_url_that_cannot_be_written_is_a_clear_error(big):
    with pytest.raises(remote.WriteError, match=r"http://127\.0\.0\.1:9/model\.cpb"):
        ps.write(big, "http://127.0.0.1:9/model", max_chunk_size=256 << 10)
    with pytest.raises(remote.WriteError, match="nosuchprotocol"):
        ps.write(big, "nosuchprotocol://bucket/model", max_chunk_size=256 << 10)


# ---- ps.Writer: the same destinations --------------------------------------------------------------------------


def write_graph_piece_by_piece(prefix: str, graph: Graph, **kwargs) -> str | None:
    with ps.Writer(prefix, Graph, max_chunk_size=256 << 10, **kwargs) as writer:
        writer.extend("node", graph.node)
        writer.set("version", graph.version)
    return writer.path


def test_writer_to_a_memory_url_round_trips_and_removes_the_stale_sibling(memory_prefix, big, small):
    ps.write(small, f"{memory_prefix}/model")
    assert listing(memory_prefix) == ["model.pb"]
    path = write_graph_piece_by_piece(f"{memory_prefix}/model.pb", big, size_hint=big.ByteSize())
    assert path == f"{memory_prefix}/model.cpb"
    assert listing(memory_prefix) == ["model.cpb"]
    assert ps.read(path, Graph) == big


def test_writer_interrupted_on_a_memory_url_keeps_the_previous_version(memory_prefix, big, small):
    write_graph_piece_by_piece(f"{memory_prefix}/model", small)
    with pytest.raises(Interrupted), ps.Writer(f"{memory_prefix}/model", Graph, max_chunk_size=256 << 10) as writer:
        writer.extend("node", big.node)
        raise Interrupted("the producer failed")
    assert listing(memory_prefix) == ["model.cpb"]
    assert ps.read(f"{memory_prefix}/model", Graph) == small


def test_writer_takes_file_urls_and_refuses_urls_it_cannot_write(tmp_path, big):
    assert write_graph_piece_by_piece(f"file://{tmp_path}/model", big) == f"{tmp_path}/model.cpb"
    assert ps.read(tmp_path / "model", Graph) == big
    with pytest.raises(ps.WriteError, match=r"http://127\.0\.0\.1:9/model\.cpb"):
        ps.Writer("http://127.0.0.1:9/model", Graph)
    with pytest.raises(ps.WriteError, match="nosuchprotocol"):
        ps.Writer("nosuchprotocol://bucket/model", Graph)
