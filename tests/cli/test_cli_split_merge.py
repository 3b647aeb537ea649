"""`split` and `merge`, and the ways of naming the message type (--type full name, module:Class,
--descriptor-set)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import pytest

import proto_splitter as ps
from proto_splitter.proto import chunk_pb2
from proto_splitter.testing import test_message3_pb2 as t3

from .cli_helpers import GRAPH, one_line_error


def test_split_then_merge_round_trips(cli, work, files):
    result = cli(
        "split",
        work / "plain_graph.pb",
        work / "split",
        "--type",
        GRAPH,
        "--max-chunk-size",
        "64k",
        "--cut-values",
        "--options",
        "zstd:3",
    )
    assert result.code == 0, result.err
    written = work / "split.cpb"
    assert result.out.startswith(f"wrote {written}: ")
    metadata = ps.read_metadata(str(written))
    assert len(metadata.chunks) > 20 and max(info.size for info in metadata.chunks) <= 64 << 10
    assert ps.read(str(written), t3.Graph) == files.graph
    assert cli("info", written, "--json").json()["compression"] == {"zstd": len(metadata.chunks)}
    merged = cli("merge", written, work / "merged.pb", "--type", GRAPH)
    assert merged.code == 0, merged.err
    assert (work / "merged.pb").read_bytes() == files.graph_pb.read_bytes()
    assert merged.out.startswith(f"wrote {work / 'merged.pb'}: ")


def test_outputs_get_ordinary_permissions(cli, work):
    assert cli("split", work / "plain_graph.pb", work / "perm", "--type", GRAPH).code == 0
    assert cli("merge", work / "perm.cpb", work / "perm.pb", "--type", GRAPH).code == 0
    mask = os.umask(0)
    os.umask(mask)
    for name in ("perm.cpb", "perm.pb"):
        assert stat.S_IMODE((work / name).stat().st_mode) == 0o666 & ~mask


def test_split_writes_a_cpb_even_for_a_small_message(cli, work):
    small = t3.Graph(version=3)
    small.node.add(name="a", op="Const")
    (work / "small.pb").write_bytes(small.SerializeToString())
    result = cli("split", work / "small.pb", work / "small_out.cpb", "--type", GRAPH)
    assert result.code == 0, result.err
    assert "1 chunks" in result.out
    assert ps.read(str(work / "small_out.cpb"), t3.Graph) == small


def test_merge_a_tensorflow_layout_cpb_from_the_core_writer(cli, work, files):
    assert cli("merge", work / "isolated.cpb", work / "m.pb", "--type", GRAPH, "--quiet").code == 0
    assert (work / "m.pb").read_bytes() == files.graph_pb.read_bytes()


def test_merge_refuses_over_2_gib_before_reading_chunks(cli, work):
    """The chunk sizes in the metadata already exceed 2 GiB: refused at once, with advice to keep the .cpb
    (the forged sizes would also fail the record size check, so a refusal proves nothing was merged)."""
    source = work / "graph.cpb"
    metadata = ps.read_metadata(str(source))
    forged = chunk_pb2.ChunkMetadata()
    forged.CopyFrom(metadata)
    forged.chunks[1].size = 3 << 30
    with ps.riegeli.RecordReader(str(source)) as reader, ps.riegeli.RecordWriter(str(work / "big.cpb")) as writer:
        records = list(reader.read_records())
        for record in records[:-1]:
            writer.write_record(record)
        writer.write_message(forged)
    result = cli("merge", work / "big.cpb", work / "big.pb", "--type", GRAPH)
    assert result.code == 2
    line = one_line_error(result, "merge")
    assert "over protobuf's 2 GiB limit" in line and "Keep it as .cpb" in line
    assert not (work / "big.pb").exists()


def test_type_is_required_and_options_checked_before_work(cli, work):
    missing = cli("split", work / "plain_graph.pb", work / "x")
    assert missing.code == 2 and "needs the message type" in one_line_error(missing, "split")
    bad_options = cli("split", work / "plain_graph.pb", work / "x", "--type", GRAPH, "--options", "zstd:99")
    assert bad_options.code == 2 and "zstd" in one_line_error(bad_options, "split")
    bad_size = cli("split", work / "plain_graph.pb", work / "x", "--type", GRAPH, "--max-chunk-size", "lots")
    assert bad_size.code == 2 and "is not a size" in bad_size.err
    tiny = cli("split", work / "plain_graph.pb", work / "x", "--type", GRAPH, "--max-chunk-size", "10")
    assert tiny.code == 2 and "at least 64 bytes" in one_line_error(tiny, "split")
    assert not (work / "x.cpb").exists()
    wrong_type = cli("merge", work / "graph.cpb", work / "w.pb", "--type", "proto_splitter.testing.Everything")
    assert wrong_type.code == 2
    one_line_error(wrong_type, "merge")


def test_python_dash_m_runs_the_same_command(work):
    completed = subprocess.run(
        [sys.executable, "-m", "proto_splitter", "info", str(work / "graph.cpb"), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert '"format": "cpb"' in completed.stdout


USER_PROTO = """
syntax = "proto3";
package user.models;
import "google/protobuf/timestamp.proto";
message Layer { string name = 1; bytes weights = 2; map<string, bytes> extras = 3; }
message Model { repeated Layer layer = 1; google.protobuf.Timestamp created = 2; }
"""


@pytest.fixture(scope="module")
def user_proto(tmp_path_factory):
    """A user's own .proto compiled with protoc: a _pb2 module and a descriptor set (with and without imports)."""
    pytest.importorskip("grpc_tools.protoc")
    folder = tmp_path_factory.mktemp("user_proto")
    (folder / "user_model.proto").write_text(textwrap.dedent(USER_PROTO))
    for extra in (
        [f"--python_out={folder}"],
        [f"--descriptor_set_out={folder / 'full.desc'}", "--include_imports"],
        [f"--descriptor_set_out={folder / 'bare.desc'}"],
    ):
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{folder}", *extra, "user_model.proto"],
            check=True,
            cwd=folder,
        )
    script = textwrap.dedent("""
        import user_model_pb2 as u
        model = u.Model()
        for i in range(5):
            layer = model.layer.add(name=f"layer{i}", weights=bytes([i]) * 50_000)
            layer.extras["bias"] = bytes([i + 1]) * 20_000
        model.created.seconds = 1700000000
        open("model.pb", "wb").write(model.SerializeToString(deterministic=True))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=folder)
    return folder


def test_module_colon_class_for_a_users_pb2(cli, user_proto):
    result = cli(
        "split", "model.pb", "model_split", "--type", "user_model_pb2:Model", "--max-chunk-size", "30k", cwd=user_proto
    )
    assert result.code == 0, result.err
    info = cli("info", "model_split.cpb", "--type", "user_model_pb2:Model", "--json", cwd=user_proto).json()
    assert info["type"] == "user.models.Model"
    assert "layer[2].weights" in {chunk["path"] for chunk in info["chunks"]}
    assert cli("merge", "model_split.cpb", "back.pb", "--type", "user_model_pb2:Model", cwd=user_proto).code == 0
    assert (user_proto / "back.pb").read_bytes() == (user_proto / "model.pb").read_bytes()
    missing = cli("info", "model_split.cpb", "--type", "no_such_module_pb2:Model", cwd=user_proto)
    assert missing.code == 2 and "cannot import module 'no_such_module_pb2'" in one_line_error(missing, "info")
    not_class = cli("info", "model_split.cpb", "--type", "user_model_pb2:DESCRIPTOR", cwd=user_proto)
    assert not_class.code == 2 and "is not a protobuf message class" in one_line_error(not_class, "info")


@pytest.mark.parametrize("descriptor_set", ["full.desc", "bare.desc"])
def test_descriptor_set(cli, user_proto, descriptor_set):
    desc = user_proto / descriptor_set
    result = cli(
        "split",
        user_proto / "model.pb",
        user_proto / f"from_{descriptor_set}",
        "--descriptor-set",
        desc,
        "--type",
        "user.models.Model",
        "--max-chunk-size",
        "30k",
    )
    assert result.code == 0, result.err
    cpb = user_proto / f"from_{descriptor_set}.cpb"
    extracted = cli("extract", cpb, "layer[3].name", "--descriptor-set", desc, "--type", "user.models.Model")
    assert extracted.code == 0 and extracted.out == "layer3\n"
    merged = user_proto / f"from_{descriptor_set}.pb"
    assert cli("merge", cpb, merged, "--descriptor-set", desc, "--type", "user.models.Model").code == 0
    assert merged.read_bytes() == (user_proto / "model.pb").read_bytes()
    wrong = cli("info", cpb, "--descriptor-set", desc, "--type", "user.models.Nope")
    assert wrong.code == 2 and "has no message 'user.models.Nope'" in one_line_error(wrong, "info")
    several = cli("info", cpb, "--descriptor-set", desc)
    assert several.code == 2 and "choose one with --type" in one_line_error(several, "info")
