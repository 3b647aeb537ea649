"""`proto-splitter info`: the chunk tree from metadata and chunk headers, as text and JSON."""

from __future__ import annotations

import time

import pytest

import proto_splitter as ps
from proto_splitter.riegeli.format import CHUNK_HEADER_SIZE

from .cli_helpers import EVERYTHING, GRAPH, one_line_error


def test_json_matches_the_metadata(cli, files):
    result = cli("info", files.graph_cpb, "--json", "--type", GRAPH)
    assert result.code == 0, result.err
    report = result.json()
    metadata = ps.read_metadata(str(files.graph_cpb))
    assert report["format"] == "cpb" and report["type"] == GRAPH
    assert report["size"] == files.graph_cpb.stat().st_size
    assert report["chunk_count"] == len(metadata.chunks) > 20
    # written with cut_values=True: the extension is declared and reported
    assert report["version"]["splitter_version"] == 1 and report["version"]["join_version"] == 1
    assert report["extensions"] == ["value pieces"]
    assert [(c["size"], c["offset"]) for c in report["chunks"]] == [(c.size, c.offset) for c in metadata.chunks]
    assert {c["type"] for c in report["chunks"]} == {"MESSAGE", "BYTES"}
    assert report["compression"] == {"none": len(metadata.chunks)}
    assert report["unreferenced_chunks"] == [] and report["chunks_referenced_twice"] == []
    paths = {c["path"] for c in report["chunks"]}
    assert "<root>" in paths and "node[0].attr['value'].tensor.content" in paths and "blobs[7]" in paths
    # the Riegeli chunk holding each record, from its header
    for chunk in report["chunks"]:
        riegeli_chunk = chunk["riegeli_chunk"]
        assert riegeli_chunk["kind"] == "simple"
        assert riegeli_chunk["begin"] <= chunk["offset"] < riegeli_chunk["begin"] + riegeli_chunk["records"]
        assert riegeli_chunk["decoded_size"] >= chunk["size"]
    tree = report["tree"]
    assert tree["chunk"] == 0 and tree["path"] == ""
    assert any(field["path"] == "node[0].attr['value']" for field in tree["fields"])


def test_text_tree_uses_names_with_type_and_numbers_without(cli, files):
    named = cli("info", files.graph_cpb, "--type", GRAPH)
    assert named.code == 0, named.err
    assert f"type:         {GRAPH}" in named.out
    assert "node[3].attr['value'].tensor.content" in named.out
    assert "blobs[7]" in named.out and "<root>" in named.out
    assert "extensions:   values cut into pieces" in named.out and "TensorFlow's Merger refuses it" in named.out
    numbered = cli("info", files.graph_cpb)
    assert numbered.code == 0, numbered.err
    assert "unknown (field numbers shown; pass --type for names)" in numbered.out
    assert "1[3].4['value'].1.3" in numbered.out and "4[7]" in numbered.out
    assert "node[" not in numbered.out
    root_line = next(line for line in named.out.splitlines() if line.rstrip().endswith("<root>"))
    assert root_line.split()[:2] == ["0", "MESSAGE"] and root_line.split()[4] == "none"


@pytest.mark.parametrize(
    "options, name", [("zstd:3", "zstd"), ("brotli:5", "brotli"), ("snappy", "snappy"), ("uncompressed", "none")]
)
def test_reports_the_compression_of_each_riegeli_chunk(cli, work, options, name):
    converted = work / f"{name}.cpb"
    assert cli("convert", work / "graph.cpb", converted, "--options", options).code == 0
    report = cli("info", converted, "--json").json()
    assert report["compression"] == {name: report["chunk_count"]}
    assert all(chunk["compression"] == name for chunk in report["chunks"])


def test_plain_pb_says_so_with_its_size(cli, files):
    size = files.graph_pb.stat().st_size
    result = cli("info", files.graph_pb)
    assert result.code == 0
    assert "plain serialized protobuf message" in result.out and f"({size} bytes)" in result.out
    assert cli("info", files.graph_pb, "--json").json() == {
        "file": str(files.graph_pb),
        "format": "pb",
        "size": size,
        "type": None,
    }


def test_prefix_finds_the_cpb(cli, files):
    result = cli("info", files.root / "graph", "--json")
    assert result.code == 0 and result.json()["file"].endswith("graph.cpb")


def test_every_schema_feature_is_named(cli, files):
    report = cli("info", files.everything_cpb, "--json", "--type", EVERYTHING).json()
    paths = {chunk["path"] for chunk in report["chunks"]}
    assert "scalars.f_bytes" in paths
    assert report["extensions"] == []
    assert "<root>" in paths  # scalar map values (string_to_bytes) travel in fragments of their parent
    assert "maps.int64_to_node[-5]" in paths or "maps.int64_to_node[-5].payload" in paths
    assert "maps.bool_to_node[true]" in paths or "maps.bool_to_node[true].name" in paths


def test_reads_only_headers(cli, work):
    """Damaged chunk data does not bother info: it reads the metadata and chunk headers only."""
    path = work / "isolated.cpb"
    metadata = ps.read_metadata(str(path))
    info = metadata.chunks[1]
    data = bytearray(path.read_bytes())
    data[info.offset + CHUNK_HEADER_SIZE + 20] ^= 0xFF  # inside the data of chunk 1's Riegeli chunk
    path.write_bytes(bytes(data))
    start = time.monotonic()
    result = cli("info", path, "--json")
    assert result.code == 0, result.err
    assert time.monotonic() - start < 5
    assert result.json()["chunk_count"] == len(metadata.chunks)
    assert cli("verify", path).code == 1


def test_errors_are_one_line_with_exit_code_2(cli, work, files):
    missing = cli("info", work / "nope.cpb")
    assert missing.code == 2 and "nope" in one_line_error(missing, "info")
    unknown = cli("info", files.graph_cpb, "--type", "no.such.Type")
    assert unknown.code == 2 and "unknown message type 'no.such.Type'" in one_line_error(unknown, "info")
    not_chunked = work / "records.cpb"
    with ps.riegeli.RecordWriter(str(not_chunked)) as writer:
        writer.write_record(b"\x08\x01\xff")
    bad = cli("info", not_chunked)
    assert bad.code == 2 and "not a chunked proto" in one_line_error(bad, "info")
    usage = cli("info")
    assert usage.code == 2 and "the following arguments are required: FILE" in usage.err


def test_google_riegeli_file_that_is_not_a_cpb(cli, riegeli_vectors):
    vector = riegeli_vectors / "test_freq_data.riegeli"
    result = cli("info", vector)
    assert result.code == 2
    line = one_line_error(result, "info")
    assert "not a chunked proto" in line or "ChunkMetadata" in line or "transposed" in line


def _graph_with_constants():
    from proto_splitter.tf import graph_pb2

    graph = graph_pb2.GraphDef()
    graph.versions.producer = 7
    for index in range(2000):
        node = graph.node.add(name=f"n{index}", op="AddV2", input=[f"n{index - 1}"])
        node.attr["T"].type = 1
        if index % 400 == 0:
            node.op = "Const"
            tensor = node.attr["value"].tensor
            tensor.dtype = 1
            tensor.tensor_shape.dim.add(size=4)
            tensor.tensor_shape.dim.add(size=250 * (1 + index // 400))
            tensor.tensor_content = bytes(4 * 4 * 250 * (1 + index // 400))
    graph.library.function.add().signature.name = "f"
    return graph


def _sizes_of(message, depth: int, path: str = "") -> dict[str, int]:
    """Bytes per field path of a message, from the serialized size of each field alone (tags and lengths included),
    summed over list elements and map entries."""
    from google.protobuf import message_factory

    from proto_splitter import descriptors

    found: dict[str, int] = {}
    fields = [field for field, _ in message.ListFields()]
    for field in fields:
        key = f"{path}.{field.name}" if path else field.name
        alone = type(message)()
        alone.CopyFrom(message)
        for other in fields:
            if other is not field:
                alone.ClearField(other.name)
        found[key] = found.get(key, 0) + alone.ByteSize()
        if field.message_type is None or key.count(".") + 1 >= depth:
            continue
        value = getattr(message, field.name)
        if descriptors.is_map(field):
            entry = message_factory.GetMessageClass(field.message_type)
            elements = [entry(key=k, value=v) for k, v in value.items()]
        else:
            elements = list(value) if descriptors.is_repeated(field) else [value]
        for element in elements:
            for child, size in _sizes_of(element, depth, key).items():
                found[child] = found.get(child, 0) + size
    return found


@pytest.mark.parametrize("max_chunk_size", [None, 3000])
def test_fields_shows_where_the_bytes_are(cli, tmp_path, max_chunk_size):
    """Per field path, summed over elements and entries: a plain .pb gives exactly the serialized sizes; a .cpb the
    same give or take the tags and lengths of what was cut out; the constants, largest first."""
    from proto_splitter.tf import graph_pb2

    graph = _graph_with_constants()
    path = ps.write(graph, tmp_path / "graph", max_chunk_size=max_chunk_size)
    result = cli("info", path, "--fields", "--json", "--type", "tensorflow.GraphDef", "--depth", "3")
    assert result.code == 0, result.err
    report = result.json()
    sizes = {field["path"]: field["bytes"] for field in report["fields"]}
    expected = _sizes_of(graph_pb2.GraphDef.FromString(graph.SerializeToString()), 3)
    assert set(sizes) == set(expected)
    for key, size in expected.items():
        if max_chunk_size is None:
            assert sizes[key] == size, key
        else:
            assert size - 4 * 2000 <= sizes[key] <= size, key
    constants = report["constants"]
    tensors = [node.attr["value"].tensor for node in graph.node if node.op == "Const"]
    cut = 0 if max_chunk_size is None else 4  # at most the tag and length of a value cut into a chunk of its own
    assert constants["count"] == 5
    assert (
        sum(tensor.ByteSize() - cut for tensor in tensors) <= constants["bytes"] <= sum(t.ByteSize() for t in tensors)
    )
    largest = constants["largest"][0]
    assert largest["name"] == "n1600" and largest["dtype"] == "DT_FLOAT" and largest["shape"] == [4, 1250]
    assert tensors[-1].ByteSize() - cut <= largest["bytes"] <= tensors[-1].ByteSize()
    assert [tensor["name"] for tensor in constants["largest"]] == ["n1600", "n1200", "n800", "n400", "n0"]


def test_fields_as_text_and_the_type_from_the_index(cli, tmp_path):
    path = ps.write(_graph_with_constants(), tmp_path / "graph", max_chunk_size=3000)
    result = cli("info", path, "--fields")  # the index names the type (the library's copy of GraphDef)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert any(line.split()[-1:] == ["tensor"] for line in lines)
    assert any(line.split()[-1:] == ["n1600"] and "DT_FLOAT" in line and "4x1250" in line for line in lines)


def test_fields_needs_a_type(cli, tmp_path):
    plain = tmp_path / "plain.pb"
    plain.write_bytes(_graph_with_constants().SerializeToString())
    result = cli("info", plain, "--fields")
    assert result.code != 0 and "--type" in result.err
