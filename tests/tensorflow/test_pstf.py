"""proto_splitter.tensorflow with real TensorFlow: a Keras model saved as saved_model.cpb, read by TensorFlow's
C++ Merger, fingerprinted and loaded by TensorFlow, run to the same outputs; frozen graphs read back and
imported; constants read lazily as numpy arrays."""

from __future__ import annotations

import os

import numpy as np
import pytest

import proto_splitter as ps
from proto_splitter import tensorflow as pstf

tf = pytest.importorskip("tensorflow", reason="tensorflow-cpu is not installed (pip install -e '.[test,tf]')")
from tensorflow.core.framework import graph_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

pytestmark = pytest.mark.tensorflow
CHUNK = 8 << 10  # the SavedModel proto (weights live in variables/) is larger: several chunks
FROZEN_CHUNK = 32 << 10  # every frozen weight fits one chunk (as TensorFlow's Merger needs), the graph does not


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(7)
    return tf.keras.Sequential(
        [
            tf.keras.Input(shape=(32,)),
            tf.keras.layers.Dense(96, activation="relu"),
            tf.keras.layers.Dense(64, activation="relu"),
            tf.keras.layers.Dense(10),
        ]
    )


@pytest.fixture(scope="module")
def inputs():
    return np.random.default_rng(3).normal(size=(5, 32)).astype(np.float32)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    export_dir = tmp_path_factory.mktemp("export") / "model"
    path = pstf.save(model, export_dir, max_chunk_size=CHUNK)
    return export_dir, path


def test_save_writes_a_chunked_saved_model_directory(exported):
    export_dir, path = exported
    assert path == os.path.join(export_dir, "saved_model.cpb")
    assert {"saved_model.cpb", "variables", "assets", "fingerprint.pb"} <= set(os.listdir(export_dir))
    assert not (export_dir / "saved_model.pb").exists()
    metadata = ps.read_metadata(path)
    assert len(metadata.chunks) > 1 and all(info.size <= CHUNK for info in metadata.chunks)


def test_tensorflow_merger_reads_our_saved_model(exported, tf_merger):
    export_dir, path = exported
    ours = ps.read(path, saved_model_pb2.SavedModel)
    assert tf_merger.read(str(export_dir / "saved_model"), saved_model_pb2.SavedModel) == ours
    assert ours.meta_graphs[0].graph_def.node


def test_tensorflow_fingerprints_our_directory(exported):
    export_dir, _ = exported
    from tensorflow.core.protobuf import fingerprint_pb2

    created = fingerprint_pb2.FingerprintDef.FromString(fingerprinting.CreateFingerprintDef(str(export_dir)))
    saved = fingerprint_pb2.FingerprintDef.FromString((export_dir / "fingerprint.pb").read_bytes())
    assert created.saved_model_checksum and created.graph_def_program_hash
    created.ClearField("uuid"), saved.ClearField("uuid")  # a fresh random id each time
    assert created == saved


def test_loaded_model_computes_the_same_outputs(model, inputs, exported):
    export_dir, _ = exported
    loaded = pstf.load(export_dir)
    np.testing.assert_allclose(
        loaded.signatures["serving_default"](tf.constant(inputs))["output_0"].numpy(), model(inputs).numpy(), rtol=1e-6
    )


def test_convert_between_pb_and_cpb(model, inputs, exported, tmp_path):
    export_dir, path = exported
    as_pb = pstf.convert(export_dir, tmp_path / "pb", to="pb")
    assert as_pb.endswith("saved_model.pb") and not (tmp_path / "pb" / "saved_model.cpb").exists()
    plain = tf.saved_model.load(str(tmp_path / "pb"))  # TensorFlow's own loader
    np.testing.assert_allclose(
        plain.signatures["serving_default"](tf.constant(inputs))["output_0"].numpy(), model(inputs).numpy(), rtol=1e-6
    )
    back = pstf.convert(tmp_path / "pb", tmp_path / "cpb", to="cpb", max_chunk_size=CHUNK, options="zstd:1")
    assert back.endswith("saved_model.cpb")
    original = ps.read(path, saved_model_pb2.SavedModel)
    assert ps.read(back, saved_model_pb2.SavedModel) == original
    assert sorted(os.listdir(tmp_path / "cpb" / "variables")) == sorted(os.listdir(export_dir / "variables"))


def test_convert_refuses_an_existing_destination_and_bad_targets(exported, tmp_path):
    export_dir, _ = exported
    (tmp_path / "taken").mkdir()
    with pytest.raises(ps.ProtoSplitterError, match="already exists"):
        pstf.convert(export_dir, tmp_path / "taken")
    with pytest.raises(ps.ProtoSplitterError, match="'cpb' or 'pb'"):
        pstf.convert(export_dir, tmp_path / "x", to="zip")
    with pytest.raises(ps.ProtoSplitterError, match="no saved_model"):
        pstf.convert(tmp_path / "taken", tmp_path / "y")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.fixture(scope="module")
def frozen(model, tmp_path_factory):
    """The model as a frozen GraphDef (weights as Const nodes), written chunked."""
    function = tf.function(model).get_concrete_function(tf.TensorSpec([None, 32], tf.float32))
    graph_def = convert_variables_to_constants_v2(function).graph.as_graph_def()
    path = ps.write(graph_def, tmp_path_factory.mktemp("frozen") / "graph", max_chunk_size=FROZEN_CHUNK)
    return graph_def, path


def test_read_graph_def_and_import_into_a_graph(frozen, model, inputs, tf_merger):
    graph_def, path = frozen
    read = pstf.read_graph_def(path)
    assert isinstance(read, graph_pb2.GraphDef) and read == graph_def
    assert tf_merger.read(path[: -len(".cpb")], graph_pb2.GraphDef) == graph_def
    placeholder = next(node.name for node in read.node if node.op == "Placeholder")
    output = read.node[-1].input[0] if read.node[-1].op == "Identity" else read.node[-1].name
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(read, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        result = session.run(f"{output}:0", {f"{placeholder}:0": inputs})
    np.testing.assert_allclose(result, model(inputs).numpy(), rtol=1e-5)


def test_read_tensor_gives_every_constant(frozen):
    graph_def, path = frozen
    constants = [node for node in graph_def.node if node.op == "Const"]
    assert constants
    for node in constants:
        np.testing.assert_array_equal(pstf.read_tensor(path, node.name), tf.make_ndarray(node.attr["value"].tensor))


def test_read_tensor_from_a_saved_model_directory_and_a_plain_pb(frozen, tmp_path):
    graph_def, _ = frozen
    saved_model = saved_model_pb2.SavedModel()
    saved_model.meta_graphs.add().graph_def.CopyFrom(graph_def)
    (tmp_path / "sm").mkdir()
    ps.write(saved_model, tmp_path / "sm" / "saved_model", max_chunk_size=FROZEN_CHUNK)
    plain = ps.write(graph_def, tmp_path / "plain")
    assert plain.endswith(".pb")
    node = next(node for node in graph_def.node if node.op == "Const" and node.attr["value"].tensor.tensor_content)
    expected = tf.make_ndarray(node.attr["value"].tensor)
    np.testing.assert_array_equal(pstf.read_tensor(tmp_path / "sm", node.name), expected)
    np.testing.assert_array_equal(pstf.read_tensor(plain, node.name), expected)
    assert pstf.read_graph_def(tmp_path / "sm") == graph_def
    with pytest.raises(pstf.NodeNotFoundError, match="no node named 'nope'"):
        pstf.read_tensor(plain, "nope")


DTYPES = [
    tf.float32,
    tf.float64,
    tf.int32,
    tf.uint8,
    tf.int16,
    tf.int8,
    tf.int64,
    tf.bool,
    tf.complex64,
    tf.complex128,
    tf.float16,
    tf.bfloat16,
    tf.uint16,
    tf.uint32,
    tf.uint64,
    tf.string,
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda dtype: dtype.name)
@pytest.mark.parametrize("form", ["content", "values", "splat", "empty"])
def test_to_numpy_matches_tensorflow(dtype, form):
    rng = np.random.default_rng(0)
    if dtype == tf.string:
        value = np.array([[b"a", b""], [b"xyz", b"\x00\xff"]], dtype=object)
    elif dtype.is_complex:
        value = (rng.normal(size=(2, 3)) + 1j * rng.normal(size=(2, 3))).astype(dtype.as_numpy_dtype)
    elif dtype == tf.bool:
        value = rng.integers(0, 2, size=(2, 3)).astype(bool)
    else:
        value = rng.integers(0, 100, size=(2, 3)).astype(dtype.as_numpy_dtype)
    if form == "content":
        proto = tf.make_tensor_proto(value)
    elif form == "values":
        proto = tf.make_tensor_proto(value)
        if dtype != tf.string:
            proto = tf.make_tensor_proto(value.flatten()[0], dtype=dtype, shape=value.shape)
    elif form == "splat":
        proto = tf.make_tensor_proto(value.flatten()[:1], dtype=dtype, shape=[4, 5], verify_shape=False)
    else:
        proto = tf.make_tensor_proto([], dtype=dtype, shape=[0, 3])
    expected = tf.make_ndarray(proto)
    ours = pstf.to_numpy(proto)
    assert ours.shape == expected.shape and ours.dtype == expected.dtype
    np.testing.assert_array_equal(ours, expected)


def test_to_numpy_rejects_inconsistent_tensors():
    proto = tf.make_tensor_proto(np.zeros((2, 2), np.float32))
    proto.tensor_content = proto.tensor_content[:-1]
    with pytest.raises(pstf.TensorDecodeError, match="tensor_content has 15 bytes"):
        pstf.to_numpy(proto)
    proto = tf.make_tensor_proto(np.zeros((2, 2), np.float32))
    proto.dtype = 20  # DT_RESOURCE
    with pytest.raises(pstf.TensorDecodeError, match="DataType 20"):
        pstf.to_numpy(proto)


def test_saved_model_layout_is_tensorflows(model, tmp_path, tf_merger):
    """The graph is attached at exactly meta_graphs[0].graph_def and the rest of the SavedModel is the root
    chunk, as TensorFlow's SavedModelSplitter does: its fingerprinting finds the parts by those paths. (With
    chunks smaller than that remainder (7.5 KiB here), the remainder is split too: TensorFlow still reads the
    file, but its fingerprinting does not support such a layout.)"""
    from tensorflow.core.protobuf import fingerprint_pb2

    path = pstf.save(model, tmp_path / "model", max_chunk_size=CHUNK)
    metadata = ps.read_metadata(path)
    tags = [[str(tag).strip() for tag in field.field_tag] for field in metadata.message.chunked_fields]
    assert tags == [["field: 2", "index: 0", "field: 2"]]
    assert metadata.message.chunk_index == 0
    created = fingerprint_pb2.FingerprintDef.FromString(fingerprinting.CreateFingerprintDef(str(tmp_path / "model")))
    assert created.graph_def_program_hash and created.signature_def_hash and created.saved_object_graph_hash
    (tmp_path / "tiny").mkdir()
    tiny = ps.write(ps.read(path, saved_model_pb2.SavedModel), tmp_path / "tiny" / "saved_model", max_chunk_size=4096)
    assert tf_merger.read(tiny[: -len(".cpb")], saved_model_pb2.SavedModel) == ps.read(path, saved_model_pb2.SavedModel)


def _graph_calling(concrete_functions):
    """A graph like the one tf.saved_model.save exports: the functions in its library, a node calling each."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        for function in concrete_functions:
            function.add_to_graph(graph)
            tf.raw_ops.StatefulPartitionedCall(args=[x], Tout=[tf.float32], f=function)
    return graph


def test_graph_export_in_parts_equals_tensorflows_whole_export():
    """Past the limit a graph is exported as its nodes, then each function from a scratch graph: together
    exactly TensorFlow's own export (shapes added), and the graph keeps its library."""
    from tensorflow.python.framework import ops

    from proto_splitter.tensorflow import saved_model as pstf_saved_model
    from proto_splitter.testing.tf_models import BigConstantsModule

    module = BigConstantsModule(3 << 20, piece_bytes=1 << 20)
    graph = _graph_calling(getattr(module, name).get_concrete_function() for name in module.function_names)
    whole, whole_version = graph._as_graph_def(add_shapes=True)
    _, as_graph_def = pstf_saved_model._graph_export_of_any_size(64 << 10)
    with pstf_saved_model._replaced(ops.Graph, "_as_graph_def", as_graph_def):
        parts, parts_version = graph._as_graph_def(add_shapes=True)
    assert parts_version == whole_version
    assert len(parts.library.function) == len(module.function_names) == 3
    assert sorted(parts.library.function, key=lambda f: f.signature.name) == sorted(
        whole.library.function, key=lambda f: f.signature.name
    )
    parts.library.ClearField("function")
    whole.library.ClearField("function")
    assert parts == whole
    assert graph._as_graph_def(add_shapes=True)[0] == graph._as_graph_def(add_shapes=True)[0]
    assert sorted(f.signature.name for f in graph._as_graph_def()[0].library.function) == sorted(
        graph._functions
    )  # the library set aside during the export is back


def test_graph_export_refuses_a_part_over_the_limit():
    from tensorflow.python.framework import ops

    from proto_splitter.errors import SplitError
    from proto_splitter.tensorflow import saved_model as pstf_saved_model
    from proto_splitter.testing.tf_models import BigConstantsModule

    module = BigConstantsModule(2 << 20, piece_bytes=1 << 20)
    graph = _graph_calling(getattr(module, name).get_concrete_function() for name in module.function_names)
    _, as_graph_def = pstf_saved_model._graph_export_of_any_size(64 << 10, part_limit=512 << 10)
    with pstf_saved_model._replaced(ops.Graph, "_as_graph_def", as_graph_def):
        with pytest.raises(SplitError, match=r"serializes to 10[0-9]{5} bytes, over the limit of 524288"):
            graph._as_graph_def(add_shapes=True)
    assert len(graph._as_graph_def()[0].library.function) == 2


def test_save_past_the_graph_export_limit(tmp_path, monkeypatch, tf_merger):
    """TensorFlow's graph export cannot serialize a graph past 2 GiB; pstf.save then exports it in parts.
    Forced here with a small limit: the saved graph is the one TensorFlow's whole export gives, TensorFlow's
    Merger reads the file, and the model loads and runs."""
    from proto_splitter.tensorflow import saved_model as pstf_saved_model
    from proto_splitter.testing.tf_models import BigConstantsModule

    module = BigConstantsModule(6 << 20, piece_bytes=2 << 20)
    tf.saved_model.save(module, str(tmp_path / "tf"))
    monkeypatch.setattr(pstf_saved_model, "GRAPH_EXPORT_LIMIT", 1 << 20)
    exports_in_parts = []
    export_in_parts = pstf_saved_model._export_in_parts
    monkeypatch.setattr(
        pstf_saved_model, "_export_in_parts", lambda *args: exports_in_parts.append(1) or export_in_parts(*args)
    )
    path = pstf.save(module, tmp_path / "ours", max_chunk_size=1 << 20)
    assert exports_in_parts and path.endswith(".cpb")
    theirs = saved_model_pb2.SavedModel.FromString((tmp_path / "tf" / "saved_model.pb").read_bytes())
    ours = ps.read(path, saved_model_pb2.SavedModel)
    assert _comparable(ours.meta_graphs[0].graph_def) == _comparable(theirs.meta_graphs[0].graph_def)
    assert tf_merger.read(path[: -len(".cpb")], saved_model_pb2.SavedModel) == ours
    loaded = pstf.load(tmp_path / "ours")
    x = np.array([2.0, 3.0], dtype=np.float32)
    for mine, want in zip(module.outputs(loaded, x), module.outputs(module, x), strict=True):
        np.testing.assert_array_equal(mine, want)


def _comparable(graph_def) -> tuple:
    """What two exports of one module share: node and function names (without the trace numbers each export
    gives TensorFlow's saver functions anew), node counts, and every constant's bytes."""
    import re

    functions = sorted(
        (
            re.sub(r"_\d+$", "", function.signature.name),
            len(function.node_def),
            sorted(node.attr["value"].tensor.tensor_content for node in function.node_def if node.op == "Const"),
        )
        for function in graph_def.library.function
    )
    return sorted(node.name for node in graph_def.node), functions
