"""`extract`: one field as text format, raw bytes, or a numpy array, reading only its chunks."""

from __future__ import annotations

import numpy as np
from google.protobuf import text_format

import proto_splitter as ps
from proto_splitter.testing import test_message3_pb2 as t3

from .cli_helpers import EVERYTHING, GRAPH, data_byte, flip_byte, one_line_error


def test_a_node_as_text_format(cli, files):
    result = cli("extract", files.graph_cpb, "node[3]", "--type", GRAPH)
    assert result.code == 0, result.err
    assert text_format.Parse(result.out, t3.Op()) == files.graph.node[3]


def test_a_tensor_as_npy(cli, work, files):
    result = cli(
        "extract", work / "graph.cpb", 'node[4].attr["value"].tensor', "--type", GRAPH, "--npy", work / "t.npy"
    )
    assert result.code == 0, result.err
    tensor = files.graph.node[4].attr["value"].tensor
    array = np.load(work / "t.npy")
    assert array.dtype == np.float32 and array.shape == (75_000,)
    assert array.tobytes() == tensor.content  # bit for bit (random bytes include NaNs)
    assert result.out == f"wrote {work / 't.npy'}: float32 [75000] (293.0 KiB)\n"
    # the attr holding the tensor works too
    assert (
        cli("extract", work / "graph.cpb", "node[4].attr['value']", "--type", GRAPH, "--npy", work / "a.npy").code == 0
    )
    assert np.load(work / "a.npy").tobytes() == array.tobytes()


def test_tensor_from_typed_values_with_shape(cli, work):
    graph = t3.Graph()
    tensor = graph.node.add(name="c").attr["value"].tensor
    tensor.dtype, tensor.shape[:] = "DT_FLOAT", [2, 3]
    tensor.float_val.extend([1.5, 2.5])  # TensorFlow repeats the last value
    graph.node.add(name="big").attr["value"].tensor.content = b"\0" * 5000
    ps.write(graph, work / "vals", max_chunk_size=2000)
    assert (
        cli("extract", work / "vals.cpb", "node[0].attr['value'].tensor", "--type", GRAPH, "--npy", work / "v.npy").code
        == 0
    )
    assert np.load(work / "v.npy").tolist() == [[1.5, 2.5, 2.5], [2.5, 2.5, 2.5]]


def test_scalars_lists_and_raw_bytes(cli, work, files):
    assert cli("extract", files.graph_cpb, "version", "--type", GRAPH).out == "1\n"
    assert cli("extract", files.graph_cpb, "node[10].input", "--type", GRAPH).out == "const_4\nadd_3\n"
    assert cli("extract", files.graph_cpb, "node[10].name", "--type", GRAPH).out == "add_4\n"
    raw = cli("extract", files.graph_cpb, "blobs[7]", "--type", GRAPH, "-o", work / "blob.bin")
    assert raw.code == 0 and (work / "blob.bin").read_bytes() == files.graph.blobs[7]
    everything = cli(
        "extract", files.everything_cpb, "maps.string_to_bytes['big']", "--type", EVERYTHING, "-o", work / "big.bin"
    )
    assert everything.code == 0 and (work / "big.bin").read_bytes() == b"B" * 8000
    text = cli("extract", files.everything_cpb, "maps.bool_to_node[true]", "--type", EVERYTHING)
    assert text.code == 0 and text.out == f'name: "{"t" * 5000}"\n'


def test_reads_only_the_chunks_it_needs(cli, work, files):
    """With the Riegeli chunk of node[0]'s constant damaged, node[5]'s constant is still extracted."""
    path = work / "isolated.cpb"
    chunks = cli("info", path, "--json", "--type", GRAPH).json()["chunks"]
    damaged = next(c["index"] for c in chunks if c["path"] == "node[0].attr['value'].tensor.content")
    flip_byte(path, data_byte(path, damaged))
    good = cli("extract", path, "node[5].attr['value'].tensor", "--type", GRAPH, "--npy", work / "n5.npy")
    assert good.code == 0, good.err
    assert np.load(work / "n5.npy").tobytes() == files.graph.node[5].attr["value"].tensor.content
    bad = cli("extract", path, "node[0].attr['value'].tensor", "--type", GRAPH, "--npy", work / "n0.npy")
    assert bad.code == 2 and "data hash mismatch" in one_line_error(bad, "extract")


def test_missing_fields_and_bad_paths(cli, files, work):
    missing = cli("extract", files.graph_cpb, "node[5000]", "--type", GRAPH)
    assert missing.code == 1 and missing.out == ""
    assert missing.err.strip() == f"proto-splitter extract: node[5000] is not set in {files.graph_cpb}"
    bad = cli("extract", files.graph_cpb, "node[3].colour", "--type", GRAPH)
    assert bad.code == 2 and "has no field 'colour'" in one_line_error(bad, "extract")
    not_tensor = cli("extract", files.graph_cpb, "node[3]", "--type", GRAPH, "--npy", work / "x.npy")
    assert not_tensor.code == 2 and "not a tensor" in one_line_error(not_tensor, "extract")
    no_type = cli("extract", files.graph_cpb, "node[3]")
    assert no_type.code == 2 and "--type" in one_line_error(no_type, "extract")


def test_plain_pb_works_too(cli, files):
    result = cli("extract", files.graph_pb, "node[2].op", "--type", GRAPH)
    assert result.code == 0 and result.out == "Const\n"
