"""TensorFlow's own C++ Merger (and Google's Riegeli reader inside it) reads the `.cpb` files we write.

Runs where tensorflow-cpu is installed (`pip install -e '.[test,tf]'`, as CI does); skipped otherwise."""

from __future__ import annotations

import pytest

import proto_splitter as ps
from proto_splitter import riegeli
from proto_splitter.testing import test_message3_pb2 as t3
from proto_splitter.testing import test_message_pb2 as tm

pytestmark = pytest.mark.tensorflow

OPTIONS = [
    None,
    "uncompressed",
    "brotli",
    "brotli:1,window_log:18",
    "zstd",
    "zstd:1",
    "snappy",
    "chunk_size:4096",
    "padding",
    "uncompressed,initial_padding,final_padding",
    "transpose",
    "transpose,zstd:1",
    "transpose,brotli:6",
    "transpose,snappy",
    "transpose,zstd:3,chunk_size:4096,bucket_fraction:0.05",
]


def graph_with_constants(count: int = 12, size: int = 1500) -> t3.Graph:
    graph = t3.Graph(version=7)
    for i in range(count):
        node = graph.node.add(name=f"const_{i}", op="Const", input=[f"x{i}"])
        node.attr["value"].tensor.content = bytes([i % 251]) * (size + i)
        node.attr["value"].tensor.shape.extend([size + i])
        node.attr["value"].tensor.float_val.extend([i * 0.5] * 400)
        node.attr["dtype"].s = "float32"
    for i in range(300):
        graph.node.add(name=f"add_{i}", op="Add", input=[f"const_{i % count}", f"add_{i - 1}"])
    function = graph.library.function.add(name="f")
    function.ops.add(name="inner", op="Const").attr["value"].tensor.content = b"\x01" * 1900
    function.ret["out"] = "inner:0"
    graph.blobs[2**40] = b"b" * 1900
    return graph


def everything_tf_compatible() -> tm.Everything:
    """Every feature TensorFlow's Merger supports (no value larger than a chunk, no big extensions)."""
    message = tm.Everything()
    message.scalars.f_bytes = b"a" * 900
    message.scalars.f_string = "é" * 300
    message.scalars.f_sfixed64 = -(1 << 63)
    message.repeateds.r_bytes.extend([b"x" * 600, b"", b"z" * 700])
    message.repeateds.r_int64.extend(range(-500, 500))
    message.repeateds.r_double.extend([0.25] * 200)
    message.repeateds.r_message.add(f_bytes=b"m" * 500, f_uint64=(1 << 64) - 1)
    for key in (-5, 0, 7):
        message.maps.int64_to_node[key].payload = b"p" * 400
    message.maps.string_to_node["k"].children.add(payload=b"c" * 700)
    message.maps.string_to_bytes["big"] = b"B" * 800
    message.maps.bool_to_node[True].name = "t" * 500
    message.item.add(id=1, data=b"g" * 600)
    message.single.label = "L" * 500
    message.picked_node.payload = b"o" * 700
    node = message.root
    for depth in range(30):
        node = node.children.add(name=f"level{depth}")
        node.payload = b"d" * 100
    return message


@pytest.mark.parametrize("options", OPTIONS)
def test_tensorflow_reads_split_graph(tmp_path, tf_merger, options):
    graph = graph_with_constants()
    path = ps.write(graph, tmp_path / "graph", max_chunk_size=2048, options=options)
    assert path.endswith(".cpb") and len(ps.read_metadata(path).chunks) > 10
    assert tf_merger.read(str(tmp_path / "graph"), t3.Graph) == graph


@pytest.mark.parametrize("options", [None, "transpose,brotli:1"])
@pytest.mark.parametrize("max_chunk_size", [1024, 4096, 20000])
def test_tensorflow_reads_every_feature(tmp_path, tf_merger, max_chunk_size, options):
    message = everything_tf_compatible()
    ps.write(message, tmp_path / "everything", max_chunk_size=max_chunk_size, options=options)
    assert tf_merger.read(str(tmp_path / "everything"), tm.Everything) == message


def test_tensorflow_reads_plain_pb(tmp_path, tf_merger):
    graph = graph_with_constants(count=2)
    assert ps.write(graph, tmp_path / "small").endswith(".pb")
    assert tf_merger.read(str(tmp_path / "small"), t3.Graph) == graph


def test_tensorflow_rejects_our_file_when_corrupted(tmp_path, tf_merger):
    path = ps.write(graph_with_constants(), tmp_path / "graph", max_chunk_size=2048)
    data = bytearray(open(path, "rb").read())
    data[200] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(RuntimeError):
        tf_merger.read(str(tmp_path / "graph"), t3.Graph)
    with pytest.raises(ps.ProtoSplitterError):
        ps.read(path, t3.Graph)


@pytest.fixture(scope="module")
def keras_artifacts(tmp_path_factory):
    """A real Keras model: its SavedModel proto and its frozen GraphDef (weights as Const nodes)."""
    tf = pytest.importorskip("tensorflow")
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    model = tf.keras.Sequential(
        [tf.keras.Input(shape=(32,)), tf.keras.layers.Dense(128, activation="relu"), tf.keras.layers.Dense(10)]
    )
    function = tf.function(model).get_concrete_function(tf.TensorSpec([None, 32], tf.float32))
    frozen = convert_variables_to_constants_v2(function).graph.as_graph_def()
    export_dir = tmp_path_factory.mktemp("saved_model")
    tf.saved_model.save(model, str(export_dir))
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((export_dir / "saved_model.pb").read_bytes())
    return saved_model, frozen


@pytest.mark.parametrize("options", [None, "brotli", "zstd:3", "snappy", "transpose,zstd:3"])
def test_tensorflow_reads_our_split_of_real_tensorflow_protos(tmp_path, tf_merger, keras_artifacts, options):
    saved_model, frozen = keras_artifacts
    for name, message in (("saved_model", saved_model), ("frozen_graph", frozen)):
        # Every weight (at most 16 KiB) fits a chunk, as TensorFlow's Merger needs; the protos do not.
        path = ps.write(message, tmp_path / name, max_chunk_size=20000, options=options)
        assert path.endswith(".cpb")
        assert tf_merger.read(str(tmp_path / name), type(message)) == message
        assert ps.read(path, type(message)) == message


@pytest.mark.parametrize("options", [None, "chunk_size:1000", "zstd:1"])
def test_tensorflow_reads_indexed_files_equal(tmp_path, tf_merger, options):
    """Every part of the index TensorFlow does not know of (ChunkMetadata.index, the padded index record, key tables
    in records of their own, a Riegeli chunk of their own at the end) leaves its Merger's message unchanged."""
    from proto_splitter.index import Index
    from proto_splitter.tf import graph_pb2

    graph = graph_pb2.GraphDef()
    graph.versions.producer = 3
    for index in range(20_000):
        node = graph.node.add(name=f"node_{index}", op="AddV2", input=[f"node_{index - 1}"])
        node.attr["T"].type = 1
        if index in (5, 10_000):
            node.op = "Const"
            node.attr["value"].tensor.tensor_content = bytes([index % 251]) * 600_000
    graph.library.function.add().signature.name = "f"
    path = ps.write(graph, tmp_path / "graph", max_chunk_size=400_000, options=options)
    metadata = ps.read_metadata(path)
    assert metadata.HasField("index")
    with riegeli.RecordReader(path) as reader:
        index = Index.load(reader, metadata, reader.read_last_record())
    assert any(table.record_size for table in index.key_tables.values())  # a key table in a record of its own
    assert tf_merger.read(str(tmp_path / "graph"), graph_pb2.GraphDef) == graph
    message = everything_tf_compatible()
    ps.write(message, tmp_path / "everything", max_chunk_size=300, options=options)
    assert ps.read_metadata(str(tmp_path / "everything.cpb")).HasField("index")
    assert tf_merger.read(str(tmp_path / "everything"), tm.Everything) == message
