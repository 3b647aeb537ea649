"""`verify` on sound and damaged files (flipped bytes, truncation, forged metadata), and `verify --recover`."""

from __future__ import annotations

import pytest

import proto_splitter as ps
from proto_splitter.proto import chunk_pb2
from proto_splitter.testing import test_message3_pb2 as t3

from .cli_helpers import EVERYTHING, GRAPH, data_byte, flip_byte, one_line_error, truncate


def rewrite_metadata(source, destination, edit, keep_index: bool = False) -> None:
    """Copies the isolated .cpb record by record (same options, so same positions), with its ChunkMetadata
    changed by `edit` (and without its index, which would no longer match it, unless `keep_index`)."""
    with (
        ps.riegeli.RecordReader(str(source)) as reader,
        ps.riegeli.RecordWriter(str(destination), options="chunk_size:1") as writer,
    ):
        records = list(reader.read_records())
        for record in records[:-1]:
            writer.write_record(record)
        metadata = chunk_pb2.ChunkMetadata.FromString(records[-1])
        edit(metadata)
        if not keep_index:
            metadata.ClearField("index")
        writer.write_message(metadata)


def test_sound_files_pass(cli, files):
    for path in (files.graph_cpb, files.isolated_cpb, files.everything_cpb):
        result = cli("verify", path)
        assert result.code == 0, result.out + result.err
        assert result.out.startswith(f"{path}: OK\n") and "every hash verified" in result.out
    report = cli("verify", files.graph_cpb, "--json", "--type", GRAPH).json()
    chunks = len(ps.read_metadata(str(files.graph_cpb)).chunks)
    assert report["ok"] is True and report["chunk_count"] == chunks
    assert report["records"] == chunks + 1 + report["index_records"] and report["index_records"] >= 1
    assert report["damaged_regions"] == [] and report["problems"] == [] and report["lost_chunks"] == []
    assert report["merge"] == {"type": GRAPH, "ok": True, "top_level_fields": 4}


def test_flipped_byte_is_reported_as_a_precise_region(cli, work):
    path = work / "isolated.cpb"
    metadata = ps.read_metadata(str(path))
    target = 9  # a BYTES piece of a constant
    assert metadata.chunks[target].type == chunk_pb2.ChunkInfo.BYTES
    flip_byte(path, data_byte(path, target))
    result = cli("verify", path, "--json", "--type", GRAPH)
    assert result.code == 1
    report = result.json()
    assert report["ok"] is False and report["lost_chunks"] == [target]
    [region] = report["damaged_regions"]
    assert region["begin"] == metadata.chunks[target].offset  # this record's Riegeli chunk starts there
    assert region["chunks"] == [target] and "data hash mismatch" in region["message"]
    assert report["merge"]["ok"] is None  # not tried on a damaged file
    text = cli("verify", path, "--type", GRAPH)
    assert text.code == 1
    assert f"{path}: DAMAGED (1 damaged region)" in text.out
    assert f"damaged: bytes {region['begin']}..{region['end'] - 1}" in text.out
    assert f"lost: chunk {target} (BYTES, 97.7 KiB) node[" in text.out


def test_damage_in_a_shared_riegeli_chunk_loses_all_its_records(cli, work):
    path = work / "graph.cpb"  # default options: the small records share 1 MiB Riegeli chunks
    flip_byte(path, data_byte(path, 5))
    report = cli("verify", path, "--json").json()
    [region] = report["damaged_regions"]
    assert 5 in region["chunks"] and len(region["chunks"]) > 1
    assert sorted(region["chunks"]) == report["lost_chunks"]


def test_truncated_file(cli, work):
    path = work / "isolated.cpb"
    size = path.stat().st_size
    truncate(path, size - 300)  # inside the last Riegeli chunk, the metadata's
    result = cli("verify", path, "--json")
    assert result.code == 1
    report = result.json()
    assert any("truncated" in region["message"] and region["end"] == size - 300 for region in report["damaged_regions"])
    assert report["problems"][0]["kind"] == "metadata"
    text = cli("verify", path, "--recover", work / "saved.cpb")
    assert text.code == 1
    assert "the ChunkMetadata (the file's last record) cannot be read: truncated file" in text.out
    assert "nothing can be recovered" in text.out and not (work / "saved.cpb").exists()


def test_damaged_signature(cli, work):
    path = work / "isolated.cpb"
    flip_byte(path, 3)
    result = cli("verify", path, "--json")
    assert result.code == 1
    report = result.json()
    assert [(r["begin"], r["end"]) for r in report["damaged_regions"]] == [(0, 64)]
    assert report["lost_chunks"] == [] and report["records"] == report["chunk_count"] + 1 + report["index_records"]
    assert cli("verify", path, "--recover", work / "fixed.cpb").code == 1
    assert cli("verify", work / "fixed.cpb", "--type", GRAPH).code == 0


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda m: setattr(m.chunks[3], "size", m.chunks[3].size + 1), "its ChunkInfo says"),
        (lambda m: setattr(m.chunks[3], "offset", m.chunks[3].offset + 7), "where the file holds no record"),
        (lambda m: m.message.chunked_fields[0].message.__setattr__("chunk_index", 99), "refers to chunk 99"),
    ],
)
def test_metadata_inconsistent_with_the_chunks(cli, work, edit, expected):
    rewrite_metadata(work / "isolated.cpb", work / "forged.cpb", edit)
    result = cli("verify", work / "forged.cpb")
    assert result.code == 1
    assert "DAMAGED (1 problem)" in result.out and expected in result.out
    assert "the file has no index" in result.out


def test_an_index_left_beside_other_metadata_is_a_problem(cli, work):
    def edit(metadata):
        metadata.version.splitter_version += 1  # harmless by itself: only the index no longer matches

    rewrite_metadata(work / "isolated.cpb", work / "stale.cpb", edit, keep_index=True)
    result = cli("verify", work / "stale.cpb")
    assert result.code == 1
    assert "DAMAGED (1 problem)" in result.out and "the index cannot be used" in result.out
    assert "not made for this file's metadata" in result.out
    assert cli("verify", work / "stale.cpb", "--recover", work / "fixed.cpb").code == 1
    assert cli("verify", work / "fixed.cpb", "--type", GRAPH).code == 0  # recovered with a new index


def test_wrong_type_fails_the_merge_check(cli, files):
    result = cli("verify", files.graph_cpb, "--type", EVERYTHING)
    assert result.code == 1
    assert result.out.startswith(f"{files.graph_cpb}: FAILED (does not merge as {EVERYTHING})")
    assert f"merge as {EVERYTHING}: FAILED: " in result.out


def test_recover_saves_the_other_chunks(cli, work, files):
    path = work / "isolated.cpb"
    metadata = ps.read_metadata(str(path))
    paths = {chunk["index"]: chunk["path"] for chunk in cli("info", path, "--json", "--type", GRAPH).json()["chunks"]}
    target = next(index for index, name in paths.items() if name == "node[2].attr['value'].tensor.content")
    pieces = sorted(index for index, name in paths.items() if name == paths[target])
    flip_byte(path, data_byte(path, target))
    result = cli("verify", path, "--type", GRAPH, "--recover", work / "saved.cpb", "--json")
    assert result.code == 1
    recovered = result.json()["recovered"]
    assert recovered["lost"] == [target]
    assert recovered["dropped"] == [index for index in pieces if index != target]  # the value's other pieces
    assert recovered["kept_chunks"] == len(metadata.chunks) - len(pieces)
    assert recovered["merge"] == {"type": GRAPH, "ok": True}
    expected = t3.Graph()
    expected.CopyFrom(files.graph)
    expected.node[2].attr["value"].tensor.ClearField("content")
    assert ps.read(str(work / "saved.cpb"), t3.Graph) == expected
    assert cli("verify", work / "saved.cpb", "--type", GRAPH).code == 0


def test_recover_without_the_root_chunk_keeps_what_can_be_placed(cli, work, files):
    path = work / "isolated.cpb"
    flip_byte(path, data_byte(path, 0))  # the root chunk: every node is lost
    result = cli("verify", path, "--type", GRAPH, "--recover", work / "saved.cpb")
    assert result.code == 1
    assert "lost: chunk 0 (MESSAGE" in result.out and "<root>" in result.out
    assert "dropped (they depend on lost data)" in result.out
    assert f"merge of the recovered file as {GRAPH}: OK" in result.out
    saved = ps.read(str(work / "saved.cpb"), t3.Graph)
    assert len(saved.node) == 0 and saved.blobs[7] == files.graph.blobs[7]  # map values need no list element


def test_recover_a_sound_file_copies_it(cli, work, files):
    result = cli("verify", work / "graph.cpb", "--recover", work / "copy.cpb", "--options", "zstd")
    assert result.code == 0 and "recovered: wrote" in result.out
    assert ps.read(str(work / "copy.cpb"), t3.Graph) == files.graph


def test_plain_pb(cli, work):
    ok = cli("verify", work / "plain_graph.pb", "--type", GRAPH)
    assert ok.code == 0 and "OK (plain .pb" in ok.out and f"parses as {GRAPH}" in ok.out
    assert cli("verify", work / "plain_graph.pb").code == 0
    truncate(work / "plain_graph.pb", 5000)
    assert cli("verify", work / "plain_graph.pb", "--type", GRAPH).code == 1
    wire = cli("verify", work / "plain_graph.pb", "--json")
    assert wire.code == 1 and wire.json()["problems"][0]["kind"] == "wire"
    refused = cli("verify", work / "plain_graph.pb", "--recover", work / "x.cpb")
    assert refused.code == 2 and "--recover works on chunked .cpb files" in one_line_error(refused, "verify")
