"""A 3 GiB ps.Writer round trip in bounded memory: constants from numpy written through buffers, small nodes with
extend(); the process's RSS, sampled, stays under 1 GiB while writing and while reading the file back element by
element; TensorFlow's Merger reads the file whole.

Marked `large` (a minute or two, 3 GiB of disk, ~7 GiB of memory in TensorFlow's child process)."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from rss import rss_growth

import proto_splitter as ps
from proto_splitter import wire
from proto_splitter.testing.elements import iter_elements
from proto_splitter.tf import graph_pb2, node_def_pb2, types_pb2, versions_pb2

pytestmark = pytest.mark.large

CONSTANT = 4 << 20
CONSTANTS = 740  # 2.9 GiB of constants, plus 1/32 of it in small nodes
SMALL = 1000
LIMIT = 1 << 30


def constant(pool: np.ndarray, index: int) -> np.ndarray:
    start = (index % 16) * (CONSTANT // 4) + index % 5
    return pool[start : start + CONSTANT // 4]


def constant_node(index: int) -> node_def_pb2.NodeDef:
    node = node_def_pb2.NodeDef(name=f"const_{index}", op="Const")
    node.attr["value"].tensor.dtype = types_pb2.DT_FLOAT
    return node


def graph_size(small: list) -> int:
    """The serialized size of the GraphDef the test writes, computed node by node (no 3 GiB message is built)."""

    def occurrence(size: int) -> int:
        return 1 + len(wire.encode_varint(size)) + size

    by_digits = {}
    for digits in {len(str(index)) for index in range(CONSTANTS)}:
        node = constant_node(10 ** (digits - 1))  # only the length of the name matters
        node.attr["value"].tensor.tensor_content = bytes(CONSTANT)
        by_digits[digits] = node.ByteSize()
    total = occurrence(versions_pb2.VersionDef(producer=1987).ByteSize())
    total += CONSTANTS * sum(occurrence(node.ByteSize()) for node in small)
    return total + sum(occurrence(by_digits[len(str(index))]) for index in range(CONSTANTS))


def test_a_3_gib_writer_round_trip_stays_under_1_gib(tmp_path, capsys, tf_merger):
    pool = np.random.default_rng(3).standard_normal(17 * CONSTANT // 4, dtype=np.float32)
    small = [node_def_pb2.NodeDef(name=f"add_{index}", op="AddV2", input=["a", "b"]) for index in range(SMALL)]
    figures: dict = {}
    start = time.perf_counter()
    with rss_growth(figures, "write_peak_rss_growth_bytes"):
        with ps.Writer(tmp_path / "big", graph_pb2.GraphDef, max_chunk_size=64 << 20) as writer:
            for index in range(CONSTANTS):
                content = {"attr['value'].tensor.tensor_content": constant(pool, index)}
                writer.append("node", constant_node(index), buffers=content)
                writer.extend("node", small)
            writer.set("versions.producer", 1987)
    figures["write_seconds"] = time.perf_counter() - start
    figures["file_bytes"] = os.path.getsize(writer.path)
    assert figures["file_bytes"] > 3 * 10**9
    assert figures["write_peak_rss_growth_bytes"] < LIMIT

    start = time.perf_counter()
    count = constants = 0
    with rss_growth(figures, "read_back_peak_rss_growth_bytes"):
        for node in iter_elements(writer.path, graph_pb2.GraphDef, "node"):
            if node.op == "Const":
                content = np.frombuffer(node.attr["value"].tensor.tensor_content, np.float32)
                assert node.name == f"const_{constants}"
                assert np.array_equal(content, constant(pool, constants))
                constants += 1
            else:
                assert node == small[(count - constants) % SMALL]
            count += 1
    figures["read_back_seconds"] = time.perf_counter() - start
    assert (constants, count) == (CONSTANTS, CONSTANTS * (1 + SMALL))
    assert figures["read_back_peak_rss_growth_bytes"] < LIMIT
    assert ps.read_partial(writer.path, graph_pb2.GraphDef, ["versions"]).versions.producer == 1987

    start = time.perf_counter()
    assert tf_merger.read_size(tmp_path / "big", graph_pb2.GraphDef) == graph_size(small)
    figures["tensorflow_merger_read_seconds"] = time.perf_counter() - start
    with capsys.disabled():
        print("\n> 3 GiB Writer round trip:", json.dumps(figures))
