"""The public readers are typed by the message class passed (tests/type_checks/api_types.py): mypy accepts the snippet's
assert_type checks, and at run time the same calls return messages of that class."""

from __future__ import annotations

from pathlib import Path

import pytest
from type_checks.api_types import read_back

import proto_splitter as ps
from proto_splitter.tf.graph_pb2 import GraphDef

REPO = Path(__file__).resolve().parents[1]
SNIPPET = REPO / "tests" / "type_checks" / "api_types.py"


def test_mypy_sees_the_class_passed():
    api = pytest.importorskip("mypy.api", reason="mypy is in the dev extra (pip install -e '.[dev]')")
    config = ["--config-file", str(REPO / "pyproject.toml"), "--cache-dir", str(REPO / ".mypy_cache")]
    out, err, status = api.run([*config, str(SNIPPET)])
    assert status == 0, out + err
    assert "Success: no issues found in 1 source file" in out


def test_the_calls_return_the_class_passed(tmp_path):
    graph = GraphDef()
    for index in range(10):
        graph.node.add(name=f"node_{index}", op="Identity", input=[f"node_{index - 1}"] if index else [])
    path = ps.write(graph, tmp_path / "graph", max_chunk_size=64)
    assert path.endswith(".cpb")
    data, _ = ps.write_to_bytes(graph, max_chunk_size=64)
    whole, part, from_bytes, merged = read_back(path, data)
    assert whole == from_bytes == merged == graph
    assert part == GraphDef(node=[graph.node[0]])
    assert all(type(message) is GraphDef for message in (whole, part, from_bytes, merged))
