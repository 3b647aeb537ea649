"""The command on TensorFlow's own files: a frozen Keras GraphDef and a SavedModel written by pstf.save."""

from __future__ import annotations

import numpy as np
import pytest

import proto_splitter as ps

tf = pytest.importorskip("tensorflow", reason="tensorflow-cpu is not installed (pip install -e '.[test,tf]')")
from tensorflow.core.framework import graph_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

pytestmark = pytest.mark.tensorflow


@pytest.fixture(scope="module")
def keras(tmp_path_factory):
    """A frozen Keras graph as a plain .pb, and the model's SavedModel directory with saved_model.cpb."""
    from proto_splitter import tensorflow as pstf

    folder = tmp_path_factory.mktemp("keras")
    model = tf.keras.Sequential(
        [tf.keras.Input(shape=(16,)), tf.keras.layers.Dense(256, activation="relu"), tf.keras.layers.Dense(4)]
    )
    function = tf.function(model).get_concrete_function(tf.TensorSpec([None, 16], tf.float32))
    frozen = convert_variables_to_constants_v2(function).graph.as_graph_def()
    (folder / "frozen.pb").write_bytes(frozen.SerializeToString())
    pstf.save(model, folder / "export", max_chunk_size=8 << 10)
    return folder, frozen


def test_split_info_extract_merge_a_frozen_graph(cli, keras, tmp_path):
    folder, frozen = keras
    split = cli(
        "split",
        folder / "frozen.pb",
        tmp_path / "frozen",
        "--type",
        "tensorflow.GraphDef",
        "--max-chunk-size",
        "20K",
        "--options",
        "zstd:3",
    )
    assert split.code == 0, split.err
    info = cli("info", tmp_path / "frozen.cpb", "--type", "tensorflow.GraphDef", "--json").json()
    assert info["type"] == "tensorflow.GraphDef" and info["chunk_count"] > 1
    assert info["compression"] == {"zstd": info["chunk_count"]}
    assert all(chunk["size"] <= 20 << 10 for chunk in info["chunks"])
    index, node = next(
        (i, node)
        for i, node in enumerate(frozen.node)
        if node.op == "Const" and len(node.attr["value"].tensor.tensor_content) > 10_000
    )
    extract = cli(
        "extract",
        tmp_path / "frozen.cpb",
        f'node[{index}].attr["value"].tensor',
        "--type",
        "tensorflow.GraphDef",
        "--npy",
        tmp_path / "w.npy",
    )
    assert extract.code == 0, extract.err
    np.testing.assert_array_equal(np.load(tmp_path / "w.npy"), tf.make_ndarray(node.attr["value"].tensor))
    assert cli("verify", tmp_path / "frozen.cpb", "--type", "tensorflow.GraphDef").code == 0
    merged = cli("merge", tmp_path / "frozen.cpb", tmp_path / "merged.pb", "--type", "tensorflow.GraphDef")
    assert merged.code == 0, merged.err
    assert graph_pb2.GraphDef.FromString((tmp_path / "merged.pb").read_bytes()) == frozen


def test_info_verify_and_merge_a_saved_model(cli, keras, tmp_path):
    folder, _ = keras
    path = folder / "export" / "saved_model.cpb"
    info = cli("info", path, "--type", "tensorflow.SavedModel")
    assert info.code == 0 and "tensorflow.SavedModel" in info.out and "meta_graphs" in info.out
    assert cli("verify", path, "--type", "tensorflow.SavedModel").code == 0
    assert cli("merge", path, tmp_path / "saved_model.pb", "--type", "tensorflow.SavedModel").code == 0
    merged = saved_model_pb2.SavedModel.FromString((tmp_path / "saved_model.pb").read_bytes())
    assert merged == ps.read(path, saved_model_pb2.SavedModel)


def test_verify_reports_a_damaged_saved_model(cli, keras, tmp_path):
    folder, _ = keras
    data = bytearray((folder / "export" / "saved_model.cpb").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "damaged.cpb").write_bytes(bytes(data))
    result = cli("verify", tmp_path / "damaged.cpb", "--type", "tensorflow.SavedModel")
    assert result.code == 1
    assert "hash" in (result.out + result.err).lower()


def test_tensorflow_reads_every_file_the_command_writes(cli, keras, tmp_path, tf_merger):
    """split, convert (re-chunked) and verify --recover each write a .cpb that TensorFlow's Merger reads back into
    exactly the frozen graph."""
    folder, frozen = keras
    graph = "tensorflow.GraphDef"
    written = cli("split", folder / "frozen.pb", tmp_path / "split", "--type", graph, "--max-chunk-size", "20K")
    assert written.code == 0, written.err
    converted = cli(
        "convert", tmp_path / "split.cpb", tmp_path / "converted.cpb", "--type", graph, "--max-chunk-size", "64K"
    )
    assert converted.code == 0, converted.err
    recovered = cli("verify", tmp_path / "split.cpb", "--type", graph, "--recover", tmp_path / "recovered.cpb")
    assert (tmp_path / "recovered.cpb").is_file(), recovered.out + recovered.err
    for name in ("split", "converted", "recovered"):
        assert tf_merger.read(str(tmp_path / name), graph_pb2.GraphDef) == frozen, name
