"""A real > 2 GiB round trip: past protobuf's 2 GiB limit, written as `.cpb`, read back equal.

Marked `large` (a minute or two, ~10 GiB of memory): deselect locally with `-m "not large"`."""
from __future__ import annotations

import importlib.util
import json
import os
import resource
import sys
import time

import pytest

import proto_splitter as ps
from proto_splitter.splitter import PROTOBUF_LIMIT, object_size
from proto_splitter.testing import test_message3_pb2 as t3
from proto_splitter.testing.graphs import assert_graphs_equal, graph_def_like

pytestmark = pytest.mark.large

CONSTANTS = 1250


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_round_trip_past_two_gib(tmp_path, capsys):
    graph = graph_def_like(CONSTANTS, small_nodes=20000)  # about 2.45 GiB
    size = object_size(graph)
    assert size > PROTOBUF_LIMIT
    figures = {"message_bytes": size}

    before = peak_rss_bytes()
    start = time.perf_counter()
    path = ps.write(graph, tmp_path / "big")
    figures["write_seconds"] = time.perf_counter() - start
    figures["write_peak_rss_growth_bytes"] = peak_rss_bytes() - before
    assert path.endswith(".cpb")
    figures["file_bytes"] = os.path.getsize(path)

    metadata = ps.read_metadata(path)
    assert len(metadata.chunks) > CONSTANTS
    assert max(chunk.size for chunk in metadata.chunks) < PROTOBUF_LIMIT

    part = ps.read_partial(path, t3.Graph, ["node[777]"])
    assert part.node[777] == graph.node[777]

    before = peak_rss_bytes()
    start = time.perf_counter()
    restored = ps.read(path, t3.Graph)
    figures["read_seconds"] = time.perf_counter() - start
    figures["read_peak_rss_growth_bytes"] = peak_rss_bytes() - before
    assert_graphs_equal(restored, graph)
    del restored

    if importlib.util.find_spec("tensorflow") is not None:
        from conftest import SHARED

        sys.path.insert(0, str(SHARED / "tf_oracle"))
        import tf_merger

        start = time.perf_counter()
        assert tf_merger.read_size(str(tmp_path / "big"), t3.Graph) == size
        figures["tensorflow_merger_read_seconds"] = time.perf_counter() - start

    with capsys.disabled():
        print("\n> 2 GiB round trip:", json.dumps(figures))
