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
