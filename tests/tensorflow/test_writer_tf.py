"""TensorFlow's C++ Merger reads every file ps.Writer writes into exactly the message the calls describe, whatever
the calls, the chunk limit and the options (the same replays as tests/core/test_writer.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from core.strategies import any_messages
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from writer_calls import replay, writable

import proto_splitter as ps
from proto_splitter.tf import graph_pb2, node_def_pb2

pytestmark = pytest.mark.tensorflow

PROPERTY = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


@PROPERTY
@given(
    message=any_messages(),
    limit=st.one_of(st.integers(64, 600), st.integers(600, 8192), st.sampled_from([1 << 16, None])),
    options=st.sampled_from([None, "zstd:1", "snappy", "chunk_size:1000"]),
    data=st.data(),
)
def test_tensorflow_reads_every_writer_file_exactly(tf_merger, message, limit, options, data):
    assume(writable(message))
    with tempfile.TemporaryDirectory() as directory:
        prefix = Path(directory) / "m"
        with ps.Writer(prefix, type(message), limit, options) as writer:
            replay(writer, message, data.draw)
        assert tf_merger.read(prefix, type(message)) == message


def test_tensorflow_reads_a_graph_def_with_numpy_constants(tmp_path, tf_merger):
    rng = np.random.default_rng(1)
    expected = graph_pb2.GraphDef()
    expected.versions.producer = 1
    with ps.Writer(tmp_path / "g", graph_pb2.GraphDef, max_chunk_size=1 << 14) as writer:
        writer.set("versions", expected.versions)
        for index in range(3000):
            node = node_def_pb2.NodeDef(name=f"n{index}", op="Identity", input=[f"n{index - 1}"])
            if index % 300 == 0:
                weights = rng.standard_normal((64, 64 + index // 300), dtype=np.float32)
                node.attr["value"].tensor.dtype = 1
                writer.append("node", node, buffers={"attr['value'].tensor.tensor_content": weights})
                node.attr["value"].tensor.tensor_content = weights.tobytes()
            else:
                writer.append("node", node)
            expected.node.append(node)
        function = expected.library.function.add()
        function.signature.name = "f"
        writer.extend("library.function", [function])
    assert ps.read_metadata(writer.path).HasField("index")  # TensorFlow's Merger reads past the index record
    assert tf_merger.read(tmp_path / "g", graph_pb2.GraphDef) == expected
    with ps.open(writer.path, graph_pb2.GraphDef) as handle:
        assert handle.indexed and handle.find("node", "n2100") == 2100
        assert handle.get("node[2100]") == expected.node[2100]
