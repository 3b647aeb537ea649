"""Builders of GraphDef-like test messages (test_message3.Graph) for tests, examples and benchmarks."""

from __future__ import annotations

import os

from .test_message3_pb2 import Graph

MIB = 1 << 20


def graph_def_like(
    constants: int, constant_size: int = 2 * MIB, small_nodes: int = 0, seed: bytes | None = None
) -> Graph:
    """A graph of `constants` distinct Const nodes of `constant_size` bytes each plus `small_nodes` AddV2 nodes."""
    base = seed if seed is not None else os.urandom(constant_size)
    graph = Graph(version=1)
    for i in range(constants):
        node = graph.node.add(name=f"const_{i}", op="Const")
        node.attr["value"].tensor.content = i.to_bytes(4, "little") + base[4:constant_size]
        node.attr["value"].tensor.dtype = "DT_FLOAT"
        node.attr["value"].tensor.shape.append(constant_size // 4)
        node.attr["dtype"].s = "DT_FLOAT"
    add_small_nodes(graph, small_nodes, max(constants, 1))
    return graph


def add_small_nodes(graph: Graph, count: int, fan_in: int) -> None:
    """Appends `count` small AddV2 nodes wired to the constants (the "many small nodes" shape)."""
    for i in range(count):
        node = graph.node.add(name=f"add_{i}", op="AddV2", input=[f"const_{i % fan_in}", f"add_{i - 1}"])
        node.attr["T"].s = "DT_FLOAT"


def assert_graphs_equal(actual: Graph, expected: Graph) -> None:
    """Node by node: comparing two multi-GiB messages at once would serialize them whole."""
    assert len(actual.node) == len(expected.node), (len(actual.node), len(expected.node))
    for index, (got, want) in enumerate(zip(actual.node, expected.node, strict=False)):
        assert got == want, f"node {index} differs"
    assert actual.version == expected.version
    assert actual.library == expected.library
    assert dict(actual.blobs) == dict(expected.blobs)
