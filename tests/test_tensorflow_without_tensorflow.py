"""proto_splitter.tensorflow reads graphs and constants without TensorFlow, on the shipped proto copies:
run in a subprocess where importing tensorflow fails."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

import proto_splitter as ps
from proto_splitter.tf import graph_pb2, types_pb2

SCRIPT = textwrap.dedent("""
    import sys
    sys.modules["tensorflow"] = None  # any import of tensorflow now raises ImportError
    import numpy as np
    from proto_splitter import tensorflow as pstf
    graph = pstf.read_graph_def(sys.argv[1])
    assert type(graph).DESCRIPTOR.full_name == "proto_splitter.tf.GraphDef", type(graph)
    print(len(graph.node))
    np.save(sys.argv[2], pstf.read_tensor(sys.argv[1], "big"))
    np.save(sys.argv[3], pstf.read_tensor(sys.argv[1], "listed"))
""")


def test_read_graph_def_and_read_tensor_without_tensorflow(tmp_path):
    big = np.arange(600_000, dtype=np.float32).reshape(600, 1000)
    listed = np.linspace(0, 1, 300_000).astype(np.float64)
    graph = graph_pb2.GraphDef()
    node = graph.node.add(name="big", op="Const")
    node.attr["value"].tensor.dtype = types_pb2.DT_FLOAT
    node.attr["value"].tensor.tensor_shape.dim.add(size=600)
    node.attr["value"].tensor.tensor_shape.dim.add(size=1000)
    node.attr["value"].tensor.tensor_content = big.tobytes()
    node = graph.node.add(name="listed", op="Const")
    node.attr["value"].tensor.dtype = types_pb2.DT_DOUBLE
    node.attr["value"].tensor.tensor_shape.dim.add(size=listed.size)
    node.attr["value"].tensor.double_val.extend(listed)
    for index in range(50):
        graph.node.add(name=f"add{index}", op="AddV2", input=["big", "listed"])
    path = ps.write(graph, tmp_path / "graph", max_chunk_size=1 << 20)
    assert path.endswith(".cpb")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, path, tmp_path / "big.npy", tmp_path / "listed.npy"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["52"]
    np.testing.assert_array_equal(np.load(tmp_path / "big.npy"), big)
    np.testing.assert_array_equal(np.load(tmp_path / "listed.npy"), listed)


def test_read_tensor_reads_only_that_constants_chunks(tmp_path, monkeypatch):
    from proto_splitter import files
    from proto_splitter import tensorflow as pstf

    graph = graph_pb2.GraphDef()
    for index in range(6):
        node = graph.node.add(name=f"w{index}", op="Const")
        node.attr["value"].tensor.dtype = types_pb2.DT_UINT8
        node.attr["value"].tensor.tensor_shape.dim.add(size=3 << 20)
        node.attr["value"].tensor.tensor_content = bytes([index]) * (3 << 20)
    path = ps.write(graph, tmp_path / "graph", max_chunk_size=4 << 20)
    read_bytes = []
    original_get = files.RiegeliChunks.get
    monkeypatch.setattr(
        files.RiegeliChunks,
        "get",
        lambda self, index: read_bytes.append(len(record := original_get(self, index))) or record,
    )
    value = pstf.read_tensor(path, "w4")
    assert value.shape == (3 << 20,) and set(value.tolist()) == {4}
    assert sum(read_bytes) < (3 << 20) + (1 << 20), read_bytes  # one constant, plus a small skeleton
