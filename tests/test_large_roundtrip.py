"""A real > 2 GiB round trip: past protobuf's 2 GiB limit, written as `.cpb`, read back equal.

Marked `large` (a minute or two, ~10 GiB of memory): deselect locally with `-m "not large"`."""

from __future__ import annotations

import json
import os
import time

import pytest
from rss import rss_growth
from tf_oracle import TensorFlowMergerError

import proto_splitter as ps
from proto_splitter.splitter import PROTOBUF_LIMIT, object_size
from proto_splitter.testing import test_message3_pb2 as t3
from proto_splitter.testing.graphs import assert_graphs_equal, graph_def_like

pytestmark = pytest.mark.large

CONSTANTS = 1250


def test_round_trip_past_two_gib(tmp_path, capsys, tf_merger):
    graph = graph_def_like(CONSTANTS, small_nodes=20000)  # about 2.45 GiB
    size = object_size(graph)
    assert size > PROTOBUF_LIMIT
    figures = {"message_bytes": size}

    start = time.perf_counter()
    with rss_growth(figures, "write_peak_rss_growth_bytes"):
        path = ps.write(graph, tmp_path / "big")
    figures["write_seconds"] = time.perf_counter() - start
    assert figures["write_peak_rss_growth_bytes"] < size // 4  # chunk by chunk, no copy of the message
    assert path.endswith(".cpb")
    figures["file_bytes"] = os.path.getsize(path)

    metadata = ps.read_metadata(path)
    assert len(metadata.chunks) > CONSTANTS
    assert max(chunk.size for chunk in metadata.chunks) < PROTOBUF_LIMIT

    part = ps.read_partial(path, t3.Graph, ["node[777]"])
    assert part.node[777] == graph.node[777]

    start = time.perf_counter()
    with rss_growth(figures, "read_peak_rss_growth_bytes"):
        restored = ps.read(path, t3.Graph)
    figures["read_seconds"] = time.perf_counter() - start
    assert figures["read_peak_rss_growth_bytes"] < size * 1.3  # the message itself, plus a few chunks
    assert_graphs_equal(restored, graph)
    del restored

    start = time.perf_counter()
    assert tf_merger.read_size(tmp_path / "big", t3.Graph) == size
    figures["tensorflow_merger_read_seconds"] = time.perf_counter() - start

    with capsys.disabled():
        print("\n> 2 GiB round trip:", json.dumps(figures))


def test_a_single_value_past_two_gib(tmp_path, tf_merger):
    """One bytes value TensorFlow cannot hold: refused by default, written in pieces with cut_values=True (and
    then refused by TensorFlow's Merger with an error, never read wrong)."""
    message = t3.Graph(version=3)
    node = message.node.add(name="huge", op="Const")
    node.attr["value"].tensor.content = b"\x07" * (PROTOBUF_LIMIT + (64 << 20))
    message.node.add(name="after", op="Identity", input=["huge"])
    with pytest.raises(ps.SplitError, match=r"node\[0\]\.attr\['value'\]\.tensor\.content holds a value"):
        ps.write(message, tmp_path / "big")
    assert list(tmp_path.iterdir()) == []
    path = ps.write(message, tmp_path / "big", cut_values=True)
    metadata = ps.read_metadata(path)
    assert metadata.version.join_version == 1 and max(info.size for info in metadata.chunks) < PROTOBUF_LIMIT
    restored = ps.read(path, t3.Graph)
    assert restored.node[1] == message.node[1]
    assert restored.node[0].attr["value"].tensor.content == node.attr["value"].tensor.content
    del restored
    with pytest.raises(TensorFlowMergerError, match="Field tag mismatch"):
        tf_merger.read_size(tmp_path / "big", t3.Graph)
