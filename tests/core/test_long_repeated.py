"""Long repeated message fields, whose small elements the splitter serializes in runs: sizes, chunk limits and
round trips, with big elements, extensions and groups among them."""

from __future__ import annotations

import pytest
from chunk_limits import assert_chunks_within_limit
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

import proto_splitter as ps
from proto_splitter import splitter
from proto_splitter.splitter import object_size
from proto_splitter.testing import test_message3_pb2 as t3
from proto_splitter.testing import test_message_pb2 as t


def long_graph(sizes: list[int]) -> t3.Graph:
    """A Graph whose node i carries an attribute of sizes[i] bytes (0: a bare node)."""
    graph = t3.Graph(version=2)
    for index, size in enumerate(sizes):
        node = graph.node.add(name=f"n{index}")
        if size:
            node.attr["value"].tensor.content = bytes([index % 251]) * size
    return graph


@settings(max_examples=examples(40), deadline=None)
@given(
    st.lists(st.sampled_from([0, 1, 100, 127, 128, 300, 16383, 16384, 5000, 70000]), min_size=9, max_size=60),
    st.sampled_from([256, 4096, 65536]),
)
def test_long_lists_round_trip_with_every_chunk_in_the_limit(sizes, limit):
    graph = long_graph(sizes)
    assert object_size(graph) == graph.ByteSize()
    chunks, chunked_message = ps.split(graph, limit)
    assert ps.merge(chunks, chunked_message, t3.Graph) == graph
    data, _ = ps.write_to_bytes(graph, limit)
    assert ps.read_from_bytes(data, t3.Graph) == graph
    assert_chunks_within_limit(chunks, limit)


def test_big_elements_among_many_small_ones_keep_their_indices():
    sizes = [10] * 30 + [50000] + [10] * 30 + [50000, 50000] + [10] * 5
    graph = long_graph(sizes)
    data, is_chunked = ps.write_to_bytes(graph, 8192)
    assert is_chunked
    part = ps.read_partial(data, t3.Graph, ["node[30]", "node[62]"])
    assert part.node[30] == graph.node[30] and part.node[62] == graph.node[62]
    assert ps.read_from_bytes(data, t3.Graph) == graph


@pytest.mark.parametrize("limit", [512, 1 << 20])
def test_long_repeated_extensions_and_groups(limit):
    message = t.Everything()
    for index in range(40):
        message.root.Extensions[t.ext_nodes].add(name=f"x{index}", payload=bytes([index]) * (index * 37))
        message.item.add(id=index, data=bytes([index]) * (index * 29))
    assert object_size(message) == message.ByteSize()
    chunks, chunked_message = ps.split(message, limit)
    assert ps.merge(chunks, chunked_message, t.Everything) == message


def test_runs_back_to_back_in_one_serialization_make_a_chunk_without_a_copy():
    """A chunk whose pieces lie back to back in one bytes object is a view of it; other pieces are joined."""
    whole = bytes(range(200))
    view = memoryview(whole)
    spanning = splitter._joined([view[10:50], view[50:51], view[51:120]])
    assert isinstance(spanning, memoryview) and spanning.obj is whole and spanning == whole[10:120]
    assert splitter._joined([view[10:50], view[60:70]]) == whole[10:50] + whole[60:70]  # a gap: joined
    assert splitter._joined([view[10:50], bytes(3)]) == whole[10:50] + bytes(3)
    assert splitter._joined([b"ab", b"cd"]) == b"abcd"
    assert splitter._joined([memoryview(bytearray(b"xy"))]) == b"xy"  # a changeable buffer: copied
