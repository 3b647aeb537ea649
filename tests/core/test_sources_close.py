"""Sources close what they open, on every path: local files (their descriptors, those of read-ahead threads too)
and remote files opened for a URL (their fetching threads), after a read that succeeds and after one that fails;
a file object or remote file the caller passed stays open."""

from __future__ import annotations

import os
import threading

import pytest

import proto_splitter as ps
from proto_splitter import remote
from proto_splitter.testing.graphs import graph_def_like
from proto_splitter.testing.test_message3_pb2 import Graph

fsspec = pytest.importorskip("fsspec", reason="fsspec is the optional [remote] extra")


def open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="module")
def graph() -> Graph:
    return graph_def_like(12, constant_size=200_000, small_nodes=100)


@pytest.fixture
def files(tmp_path, graph):
    """A sound .cpb, the same with a damaged chunk, and a plain .pb."""
    sound = ps.write(graph, tmp_path / "sound", max_chunk_size=256 << 10)
    data = bytearray(open(sound, "rb").read())
    offset = ps.read_metadata(sound).chunks[5].offset
    data[offset + 5000] ^= 0xFF  # inside chunk 5's data: its hash no longer matches
    (tmp_path / "damaged.cpb").write_bytes(bytes(data))
    plain = ps.write(graph_def_like(2, constant_size=1000), tmp_path / "plain")
    return {"sound": sound, "damaged": str(tmp_path / "damaged.cpb"), "plain": plain}


def calls(files):
    """(call, the error it raises or None) for each way of reading, succeeding or failing."""
    return [
        (lambda: ps.read(files["sound"], Graph), None),
        (lambda: ps.read_partial(files["sound"], Graph, ["node[3]"]), None),
        (lambda: ps.read_metadata(files["sound"]), None),
        (lambda: ps.read(files["plain"], Graph), None),
        (lambda: ps.read(files["damaged"], Graph), ps.RiegeliError),
        (lambda: ps.read_partial(files["damaged"], Graph, ["node[5]"]), ps.RiegeliError),
        (lambda: ps.read_metadata(files["plain"]), ps.ChunkedProtoError),
        (lambda: ps.read_partial(files["sound"], Graph, ["node[999]"]), None),
    ]


def run(call, error) -> None:
    if error is None:
        call()
    else:
        with pytest.raises(error):
            call()


def test_local_reads_close_their_files(files):
    for call, error in calls(files):
        before = open_descriptors()
        run(call, error)
        assert open_descriptors() <= before


@pytest.fixture
def urls(files, request):
    """The same files in fsspec's memory filesystem."""
    memory = fsspec.filesystem("memory")
    found = {}
    for name, path in files.items():
        url = f"memory://close-{request.node.name}/{os.path.basename(path)}"
        memory.pipe(url, open(path, "rb").read())
        found[name] = url
    yield found
    memory.rm(f"memory://close-{request.node.name}", recursive=True)


def test_remote_reads_close_the_files_they_open(urls, monkeypatch):
    opened: list[remote.RangedFile] = []

    def recording(*args, **kwargs):
        opened.append(remote.RangedFile(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(remote, "open_remote", recording)
    for call, error in calls(urls):
        opened.clear()
        run(call, error)
        assert opened and all(file.closed for file in opened)
        assert not [thread for thread in threading.enumerate() if thread.name.startswith("proto-splitter-fetch")]


def test_a_file_the_caller_passed_stays_open(files, urls, graph):
    with open(files["sound"], "rb") as handle:
        assert ps.read(handle, Graph) == graph
        assert not handle.closed
    with remote.open_remote(urls["damaged"]) as damaged, remote.open_remote(urls["sound"]) as sound:
        with pytest.raises(ps.RiegeliError):
            ps.read(damaged, Graph)
        assert not damaged.closed and damaged.held == 0
        assert ps.read(sound, Graph) == graph
        assert not sound.closed and sound.held == 0
