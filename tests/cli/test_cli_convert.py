"""`convert`: recompress record by record (no message type needed), or re-chunk with --max-chunk-size."""

from __future__ import annotations

import pytest
from chunk_limits import assert_file_chunks_within_limit

import proto_splitter as ps
from proto_splitter.testing import test_message3_pb2 as t3
from proto_splitter.testing import test_message_pb2 as tm

from .cli_helpers import GRAPH, data_byte, flip_byte, one_line_error


@pytest.mark.parametrize("options", ["zstd:3", "brotli", "snappy", "uncompressed,chunk_size:4k", "zstd,padding"])
def test_recompress_keeps_every_chunk(cli, work, files, options):
    result = cli("convert", work / "graph.cpb", work / "out.cpb", "--options", options)
    assert result.code == 0, result.err
    before = ps.read_metadata(str(work / "graph.cpb"))
    after = ps.read_metadata(str(work / "out.cpb"))
    assert after.message == before.message and after.version == before.version
    assert [(c.type, c.size) for c in after.chunks] == [(c.type, c.size) for c in before.chunks]
    assert ps.read(str(work / "out.cpb"), t3.Graph) == files.graph
    assert cli("verify", work / "out.cpb", "--type", GRAPH).code == 0


def test_compression_shrinks_the_file(cli, work, files):
    assert cli("convert", work / "everything.cpb", work / "z.cpb", "--options", "zstd:3").code == 0
    assert (work / "z.cpb").stat().st_size < (work / "everything.cpb").stat().st_size / 3
    assert ps.read(str(work / "z.cpb"), tm.Everything) == files.everything


def test_in_place(cli, work, files):
    path = work / "graph.cpb"
    result = cli("convert", path, path, "--options", "brotli:4")
    assert result.code == 0, result.err
    assert cli("info", path, "--json").json()["compression"] == {"brotli": len(ps.read_metadata(str(path)).chunks)}
    assert ps.read(str(path), t3.Graph) == files.graph


def test_rechunk_needs_the_type(cli, work, files):
    refused = cli("convert", work / "graph.cpb", work / "r.cpb", "--max-chunk-size", "32k")
    assert refused.code == 2 and "needs the message type" in one_line_error(refused, "convert")
    result = cli(
        "convert",
        work / "graph.cpb",
        work / "r.cpb",
        "--max-chunk-size",
        "32k",
        "--type",
        GRAPH,
        "--options",
        "snappy",
        "--cut-values",
    )
    assert result.code == 0, result.err
    metadata = assert_file_chunks_within_limit(str(work / "r.cpb"), 32 << 10)
    assert len(metadata.chunks) > len(ps.read_metadata(str(work / "graph.cpb")).chunks)
    assert ps.read(str(work / "r.cpb"), t3.Graph) == files.graph
    plain = cli("convert", work / "plain_graph.pb", work / "p.cpb")
    assert plain.code == 2 and "is a plain .pb" in one_line_error(plain, "convert")
    assert cli("convert", work / "plain_graph.pb", work / "p.cpb", "--type", GRAPH).code == 0
    assert ps.read(str(work / "p.cpb"), t3.Graph) == files.graph


def test_damaged_input_is_refused_without_output(cli, work):
    flip_byte(work / "isolated.cpb", data_byte(work / "isolated.cpb", 4))
    result = cli("convert", work / "isolated.cpb", work / "out.cpb", "--options", "zstd")
    assert result.code == 2 and "data hash mismatch" in one_line_error(result, "convert")
    assert not (work / "out.cpb").exists()
    assert [path.name for path in work.iterdir() if path.name.startswith("out.cpb")] == []
