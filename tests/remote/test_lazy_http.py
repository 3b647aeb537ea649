"""ps.open and pstf.open_graph over HTTP (a loopback server honouring Range): opening and reading one constant
take at most 3 requests and little more than the constant's bytes, the metadata and the index."""

from __future__ import annotations

import numpy as np

import proto_splitter as ps
from proto_splitter import tensorflow as pstf
from proto_splitter.testing.range_server import RangeServer
from proto_splitter.tf import graph_pb2

MIB = 1 << 20


def test_open_and_one_tensor_in_three_requests(tmp_path):
    graph = graph_pb2.GraphDef()
    for index in range(48):
        node = graph.node.add(name=f"w{index}", op="Const")
        tensor = node.attr["value"].tensor
        tensor.dtype = 1
        tensor.tensor_shape.dim.add(size=MIB // 4)
        tensor.tensor_content = np.full(MIB // 4, index, dtype=np.float32).tobytes()
        for other in range(400):
            graph.node.add(name=f"n{index}_{other}", op="AddV2", input=[f"w{index}"])
    path = ps.write(graph, tmp_path / "model", max_chunk_size=8 * MIB)
    metadata = ps.read_metadata(path)
    overhead = metadata.ByteSize() + metadata.index.size
    with RangeServer(tmp_path) as server:
        with pstf.open_graph(server.url("model.cpb"), graph_pb2.GraphDef) as graph_file:
            array = graph_file.tensor("w29")
        assert np.array_equal(array, np.full(MIB // 4, 29, dtype=np.float32))
        assert server.requests <= 3, server.requests
        assert server.bytes_served <= MIB + MIB + overhead, (server.bytes_served, overhead)
        server.reset_counts()
        with ps.open(server.url("model.cpb"), graph_pb2.GraphDef) as handle:
            assert handle.get("node[16000]") == graph.node[16000]
            assert handle.find("node", "n40_7") == 40 * 401 + 8
        assert server.requests <= 4, server.requests
