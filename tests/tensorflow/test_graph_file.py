"""pstf.open_graph without TensorFlow (the shipped copies of its protos): constants by name, into numpy or the
caller's array, all of them in order, nodes by name, in GraphDef files (indexed or not, .pb or .cpb) and in a
SavedModel directory whose constants live in functions."""

from __future__ import annotations

import io

import numpy as np
import pytest

import proto_splitter as ps
from proto_splitter import files, riegeli
from proto_splitter import tensorflow as pstf
from proto_splitter.proto import chunk_pb2
from proto_splitter.tf import graph_pb2, saved_model_pb2

FLOAT, INT32, STRING = 1, 3, 7


def add_constant(nodes, name: str, array: np.ndarray, dtype: int, inline: bool = False):
    node = nodes.add(name=name, op="Const")
    node.attr["dtype"].type = dtype
    tensor = node.attr["value"].tensor
    tensor.dtype = dtype
    for size in array.shape:
        tensor.tensor_shape.dim.add(size=size)
    if inline:
        tensor.float_val.extend(array.ravel().tolist())
    else:
        tensor.tensor_content = array.astype(array.dtype.newbyteorder("<")).tobytes()
    return node


def make_graph() -> tuple[graph_pb2.GraphDef, dict[str, np.ndarray]]:
    """Constants of 400 KB (their own chunks), small ones (inline), small nodes between; a function with two."""
    rng = np.random.default_rng(5)
    graph, arrays = graph_pb2.GraphDef(), {}
    for index in range(6):
        arrays[f"dense_{index}/kernel"] = rng.normal(size=(100, 1000)).astype(np.float32)
        add_constant(graph.node, f"dense_{index}/kernel", arrays[f"dense_{index}/kernel"], FLOAT)
        arrays[f"shape_{index}"] = np.array([index, 7], dtype=np.int32)
        add_constant(graph.node, f"shape_{index}", arrays[f"shape_{index}"], INT32)
        arrays[f"scale_{index}"] = np.array([0.5, float(index)], dtype=np.float32)
        add_constant(graph.node, f"scale_{index}", arrays[f"scale_{index}"], FLOAT, inline=True)
        for other in range(500):
            graph.node.add(name=f"op_{index}_{other}", op="AddV2", input=[f"dense_{index}/kernel"])
    function = graph.library.function.add()
    function.signature.name = "body"
    arrays["body::w"] = rng.normal(size=(300, 300)).astype(np.float32)
    add_constant(function.node_def, "w", arrays["body::w"], FLOAT)
    arrays["body::b"] = np.arange(4, dtype=np.float32)
    add_constant(function.node_def, "b", arrays["body::b"], FLOAT)
    function.node_def.add(name="add", op="AddV2", input=["w", "b"])
    return graph, arrays


@pytest.fixture(scope="module")
def graph_files(tmp_path_factory):
    """The graph as an indexed .cpb, the same file without its index (as TensorFlow writes them), and a .pb."""
    graph, arrays = make_graph()
    folder = tmp_path_factory.mktemp("graphs")
    indexed = ps.write(graph, folder / "indexed", max_chunk_size=64 << 10)
    unindexed = str(folder / "unindexed.cpb")
    with riegeli.RecordReader(indexed) as reader, riegeli.RecordWriter(unindexed) as writer:
        records = [(reader.last_pos.numeric, record) for record in reader.read_records()]
        metadata = chunk_pb2.ChunkMetadata.FromString(records[-1][1])
        moved = {}
        for position, record in records[:-1]:
            if position in {info.offset for info in metadata.chunks}:
                writer.write_record(record)
                moved[position] = writer.last_pos.numeric
        for info in metadata.chunks:
            info.offset = moved[info.offset]
        metadata.ClearField("index")
        writer.write_message(metadata)
    plain = ps.write(graph, folder / "plain")
    return {"indexed": indexed, "unindexed": unindexed, "pb": plain}, graph, arrays


@pytest.fixture(params=["indexed", "unindexed", "pb"])
def opened(request, graph_files):
    paths, graph, arrays = graph_files
    with pstf.open_graph(paths[request.param], graph_pb2.GraphDef) as graph_file:
        yield graph_file, graph, arrays


def test_tensor_names_are_the_constants_in_order(opened):
    graph_file, _, arrays = opened
    assert graph_file.tensor_names() == list(arrays)


def test_tensor_reads_one_constant(opened):
    graph_file, _, arrays = opened
    for name, array in arrays.items():
        got = graph_file.tensor(name)
        assert got.dtype == array.dtype and got.shape == array.shape and np.array_equal(got, array), name


def test_tensor_into_the_callers_array(opened):
    graph_file, _, arrays = opened
    out = np.empty((100, 1000), dtype=np.float32)
    assert graph_file.tensor("dense_3/kernel", out=out) is out
    assert np.array_equal(out, arrays["dense_3/kernel"])
    small = np.empty(2, dtype=np.float32)
    assert graph_file.tensor("scale_2", out=small) is small and np.array_equal(small, arrays["scale_2"])
    with pytest.raises(ps.ProtoSplitterError, match="out is"):
        graph_file.tensor("dense_3/kernel", out=np.empty((100, 1000), dtype=np.float64))
    with pytest.raises(ps.ProtoSplitterError, match="contiguous"):
        graph_file.tensor("dense_3/kernel", out=np.empty((1000, 200), dtype=np.float32)[:, ::2])


def test_tensors_yields_every_constant_in_order(opened):
    graph_file, _, arrays = opened
    names = []
    for name, array in graph_file.tensors():
        assert np.array_equal(array, arrays[name]), name
        names.append(name)
    assert names == list(arrays)


def test_nodes_by_name(opened):
    graph_file, graph, _ = opened
    assert graph_file.node("op_4_321") == graph.node[4 * 503 + 3 + 321]
    assert graph_file.node("dense_1/kernel") == graph.node[503]
    assert graph_file.node("body::add") == graph.library.function[0].node_def[2]
    for missing in ("nope", "body::nope", "nobody::w"):
        with pytest.raises(pstf.NodeNotFoundError):
            graph_file.node(missing)
    with pytest.raises(KeyError):  # NodeNotFoundError is a KeyError too
        graph_file.tensor("nope")


def test_read_tensor_is_a_call_on_open_graph(graph_files):
    paths, _, arrays = graph_files
    assert np.array_equal(pstf.read_tensor(paths["indexed"], "dense_5/kernel"), arrays["dense_5/kernel"])


def test_a_saved_model_directory(tmp_path):
    """Constants in the functions of a SavedModel's graph (as TensorFlow saves them)."""
    graph, arrays = make_graph()
    saved_model = saved_model_pb2.SavedModel(saved_model_schema_version=1)
    saved_model.meta_graphs.add().graph_def.CopyFrom(graph)
    folder = tmp_path / "export"
    folder.mkdir()
    assert ps.write(saved_model, folder / "saved_model", max_chunk_size=64 << 10).endswith(".cpb")
    with pstf.open_graph(folder) as graph_file:
        assert graph_file.tensor_names() == list(arrays)
        assert np.array_equal(graph_file.tensor("body::w"), arrays["body::w"])
        assert np.array_equal(graph_file.tensor("dense_2/kernel"), arrays["dense_2/kernel"])
        details = graph_file.tensor_details()
    with ps.open(folder / "saved_model", type(saved_model)) as opened:  # a handle on the SavedModel itself
        assert pstf.GraphFile(folder, opened=opened).tensor_details() == details
    assert [tensor.name for tensor in details] == list(arrays)
    names = {"float32": "DT_FLOAT", "int32": "DT_INT32"}
    for tensor, array in zip(details, arrays.values(), strict=True):
        assert tensor.shape == array.shape and tensor.dtype == names[array.dtype.name]
        assert tensor.bytes >= array.nbytes


def test_a_value_cut_into_pieces(tmp_path):
    """A constant larger than a chunk, written with cut_values=True: its pieces go straight into one array."""
    graph = graph_pb2.GraphDef()
    array = np.arange(300_000, dtype=np.float32)
    add_constant(graph.node, "big", array, FLOAT)
    path = ps.write(graph, tmp_path / "pieces", max_chunk_size=100_000, cut_values=True)
    with pstf.open_graph(path, graph_pb2.GraphDef) as graph_file:
        assert np.array_equal(graph_file.tensor("big"), array)
        [(name, got)] = list(graph_file.tensors())  # its pieces read ahead, then joined
        assert name == "big" and np.array_equal(got, array) and got.flags.writeable


def test_tensors_are_the_callers_to_keep_and_change(graph_files):
    """The arrays tensors() yields (read ahead by threads) are writable, each its own; stopping early is fine."""
    paths, _, arrays = graph_files
    with pstf.open_graph(paths["indexed"], graph_pb2.GraphDef) as graph_file:
        got = dict(graph_file.tensors())
        for array in got.values():
            array[...] = 0
        assert np.array_equal(graph_file.tensor("dense_1/kernel"), arrays["dense_1/kernel"])
        for name, array in graph_file.tensors():
            assert np.array_equal(array, arrays[name])
            if name == "shape_1":
                break
        assert [name for name, _ in graph_file.tensors()] == list(arrays)


def test_a_file_object(graph_files):
    paths, graph, _ = graph_files
    with open(paths["indexed"], "rb") as handle:
        data = io.BytesIO(handle.read())
    with ps.open(data, graph_pb2.GraphDef) as opened:
        assert opened.find("node", "shape_4") == 4 * 503 + 1
    assert files.read(paths["indexed"], graph_pb2.GraphDef) == graph
