"""TensorFlow's C++ Merger reads every file we write into exactly the message we saved, whatever the chunk limit
and the options, or the library refuses to write it; and a file using proto-splitter's one extension (values
cut into pieces) makes TensorFlow fail with an error instead of reading it wrong.

TensorFlow runs in a child process (the `tf_merger` fixture): an abort inside it fails a test, not the run."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from chunk_limits import assert_file_chunks_within_limit
from core.strategies import any_messages, holders
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tf_oracle import TensorFlowMergerError

import proto_splitter as ps
from proto_splitter import extensions, splitter
from proto_splitter.proto import chunk_pb2
from proto_splitter.testing import test_message3_pb2 as t3
from proto_splitter.testing import test_message_pb2 as t
from proto_splitter.testing import test_required_pb2 as tr

pytestmark = pytest.mark.tensorflow

OPTIONS = [
    None,
    "uncompressed",
    "brotli:1",
    "zstd:1",
    "snappy",
    "zstd:1,chunk_size:1000",
    "padding",
    "transpose",
    "transpose,zstd:1,chunk_size:1000",
]
WRITERS = ["write", "write_to_bytes", "iter_chunks", "file object"]
limits = st.one_of(st.integers(64, 600), st.integers(600, 8192), st.sampled_from([1 << 16, 1 << 20, None]))
PROPERTY = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


def write_with(writer: str, message, prefix: Path, limit, options, cut_values: bool = False) -> Path:
    """Writes `message` at `prefix` (.pb or .cpb) through one of the library's writers; returns the path."""
    if writer == "write":
        return Path(ps.write(message, prefix, limit, options, cut_values=cut_values))
    if writer == "write_to_bytes":
        data, chunked = ps.write_to_bytes(message, limit, options, cut_values=cut_values)
    elif writer == "iter_chunks":
        data = b"".join(ps.iter_chunks(message, limit, options, cut_values=cut_values))
        chunked = data[:8] == bytes.fromhex("83af70d10d884a3f")
    else:
        out = io.BytesIO()
        chunked = ps.write(message, out, limit, options, cut_values=cut_values) == ".cpb"
        data = out.getvalue()
    path = prefix.with_suffix(".cpb" if chunked else ".pb")
    path.write_bytes(data)
    return path


@PROPERTY
@given(
    message=any_messages(),
    limit=limits,
    options=st.sampled_from(OPTIONS),
    writer=st.sampled_from(WRITERS),
)
def test_tensorflow_reads_every_file_exactly(tf_merger, message, limit, options, writer):
    with tempfile.TemporaryDirectory() as directory:
        prefix = Path(directory) / "m"
        path = write_with(writer, message, prefix, limit, options)
        assert tf_merger.read(prefix, type(message)) == message
        assert ps.read(path, type(message)) == message
        if path.suffix == ".cpb" and limit is not None:
            metadata = assert_file_chunks_within_limit(path, limit)
            assert metadata.version.join_version == 0


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("limit", [64, 300, 4096])
def test_repeated_bytes_larger_than_the_limit(tmp_path, tf_merger, options, limit):
    """Once an abort of TensorFlow's Merger (a list index on a repeated bytes field): now fragments."""
    message = t.Everything()
    message.repeateds.r_bytes.extend([b"x" * 6000, b"", b"z" * 7000, b"q" * 10, b"w" * 5000])
    message.repeateds.r_string.extend(["s" * 9000, "t"])
    message.Extensions[t.ext_blobs].extend([b"e" * 5000, b"f"])
    message.maps.string_to_bytes["big"] = b"B" * 8000
    message.nodes.add().Extensions[t.ext_payload] = b"p" * 7000
    path = ps.write(message, tmp_path / "m", limit, options)
    assert tf_merger.read(tmp_path / "m", t.Everything) == message
    assert ps.read(path, t.Everything) == message
    assert_file_chunks_within_limit(path, limit)


def test_a_value_larger_than_the_limit_is_one_chunk_of_its_own(tmp_path, tf_merger):
    message = t3.Graph(version=1)
    node = message.node.add(name="big", op="Const")
    node.attr["value"].tensor.content = bytes(range(256)) * 2048  # 512 KiB
    message.node.add(name="small", op="Add")
    path = ps.write(message, tmp_path / "g", 64 << 10)
    metadata = ps.read_metadata(path)
    values = [info for info in metadata.chunks if info.type == chunk_pb2.ChunkInfo.BYTES]
    assert [info.size for info in values] == [512 << 10]
    assert metadata.version.join_version == 0
    assert tf_merger.read(tmp_path / "g", t3.Graph) == message


def test_groups_extensions_and_wide_map_keys(tmp_path, tf_merger):
    """What TensorFlow's Merger cannot address by path (a singular group on the way, extension fields, 64-bit
    map keys it would truncate) is laid out so that it reads it exactly."""
    message = t.Everything()
    message.single.label = "L" * 9000
    message.root.Extensions[t.ext_payload] = b"e" * 9000
    message.root.Extensions[t.ext_nodes].add(name="x", payload=b"n" * 9000)
    for key in (2**40, -(2**40), 5, 2**31, -(2**31)):
        message.maps.int64_to_node[key].payload = bytes([key % 251]) * 3000
        message.maps.uint64_to_node[abs(key)].children.add(payload=b"c" * 3000)
    message.maps.string_to_node["k"].payload = b"k" * 3000
    for limit in (256, 1024, 4096):
        path = ps.write(message, tmp_path / f"m{limit}", limit)
        assert tf_merger.read(tmp_path / f"m{limit}", t.Everything) == message
        assert ps.read(path, t.Everything) == message
        assert_file_chunks_within_limit(path, limit)


# ---- required fields ------------------------------------------------------------------------------------


def big_holder() -> tr.Holder:
    holder = tr.Holder(label="h" * 3000, payload=b"P" * 200_000)
    holder.blob.main = b"M" * 300_000
    holder.blob.stamp.seconds = 3
    holder.header.stamp = 11
    holder.header.note = b"N" * 100_000
    for index in range(3):
        blob = holder.blobs.add(main=bytes([index]) * 90_000, id=index)
        blob.stamp.seconds = index
    holder.named["a"].main = b"A" * 70_000
    holder.named["a"].stamp.seconds = 5
    holder.named["a"].stamp.zone = "z" * 5000
    holder.spare.main = b"S" * 80_000
    holder.spare.stamp.seconds = 1
    child = tr.Holder()
    child.CopyFrom(holder)  # (a copy first: upb cannot copy a message into its own child)
    holder.child.CopyFrom(child)
    holder.nested[2**40].CopyFrom(child)
    holder.nested[-1].CopyFrom(child)
    return holder


@pytest.mark.parametrize("limit", [4096, 64 << 10, 1 << 20])
def test_required_fields_split_and_read_back_in_both_readers(tmp_path, tf_merger, limit):
    holder = big_holder()
    assert holder.IsInitialized()
    path = ps.write(holder, tmp_path / "h", limit, "zstd:1")
    assert path.endswith(".cpb")
    assert tf_merger.read(tmp_path / "h", tr.Holder) == holder
    assert ps.read(path, tr.Holder) == holder
    chunks, chunked_message = ps.split(holder, limit)
    assert ps.merge(chunks, chunked_message, tr.Holder) == holder
    part = ps.read_partial(path, tr.Holder, ["blobs[2]", "child.header", "named['a']", "nested[-1].blob"])
    assert part.blobs[2] == holder.blobs[2] and part.child.header == holder.child.header
    assert part.named["a"] == holder.named["a"] and part.nested[-1].blob == holder.nested[-1].blob


@settings(PROPERTY, max_examples=40)
@given(holder=holders(), limit=st.integers(64, 4096))
def test_required_fields_property(tf_merger, holder, limit):
    with tempfile.TemporaryDirectory() as directory:
        prefix = Path(directory) / "h"
        ps.write(holder, prefix, limit)
        assert tf_merger.read(prefix, tr.Holder) == holder


def test_a_message_missing_required_fields_is_refused(tmp_path):
    holder = tr.Holder(label="x")
    with pytest.raises(ps.SplitError, match="missing required fields: blob"):
        ps.write(holder, tmp_path / "h")
    with pytest.raises(ps.SplitError, match="missing required fields"):
        ps.write_to_bytes(holder, 64)
    assert list(tmp_path.iterdir()) == []


# ---- proto-splitter's extension: values cut into pieces ------------------------------------------------


@pytest.mark.parametrize("writer", WRITERS)
def test_cut_values_is_refused_by_tensorflow_and_read_by_us(tmp_path, tf_merger, writer):
    message = t.Everything()
    message.repeateds.r_bytes.extend([b"x" * 6000, b"y"])
    message.scalars.f_bytes = b"b" * 5000
    message.maps.string_to_bytes["big"] = b"B" * 8000
    path = write_with(writer, message, tmp_path / "m", 1024, "zstd:1", cut_values=True)
    metadata = assert_file_chunks_within_limit(path, 1024)  # every chunk within the limit, values included
    assert metadata.version.join_version == 1
    assert ps.read(path, t.Everything) == message
    with pytest.raises(TensorFlowMergerError, match="Field tag mismatch"):
        tf_merger.read(tmp_path / "m", t.Everything)


def test_cut_values_only_marks_files_that_use_pieces(tmp_path, tf_merger):
    message = t.Everything()
    message.scalars.f_bytes = b"b" * 300
    message.root.payload = b"p" * 300
    path = ps.write(message, tmp_path / "m", 400, cut_values=True)  # needs chunks, but no value is over 400
    assert ps.read_metadata(path).version.join_version == 0
    assert tf_merger.read(tmp_path / "m", t.Everything) == message


def test_cut_values_in_memory_and_in_a_saved_model_layout(tmp_path, tf_merger):
    from proto_splitter.tf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    graph = saved_model.meta_graphs.add().graph_def
    graph.node.add(name="c", op="Const").attr["value"].tensor.tensor_content = b"\x01" * 50_000
    chunks, chunked_message = ps.split(saved_model, 4096, cut_values=True)
    # the guard sits at the root, where TensorFlow sorts before it merges anything, and only there
    assert extensions.has_guard(chunked_message)
    assert not any(extensions.has_guard(field.message) for field in chunked_message.chunked_fields)
    assert ps.merge(chunks, chunked_message, saved_model_pb2.SavedModel) == saved_model
    path = ps.write(saved_model, tmp_path / "saved_model", 4096, cut_values=True)
    assert ps.read(path, saved_model_pb2.SavedModel) == saved_model
    with pytest.raises(TensorFlowMergerError, match="Field tag mismatch"):
        tf_merger.read(tmp_path / "saved_model", saved_model_pb2.SavedModel)


def test_a_value_over_two_gib_needs_cut_values(tmp_path, monkeypatch):
    """Checked with the limit lowered (the real > 2 GiB value is in the `large` round trip)."""
    monkeypatch.setattr(splitter, "PROTOBUF_LIMIT", 10_000)
    message = t.Everything()
    message.root.children.add().payload = b"v" * 20_000
    with pytest.raises(ps.SplitError, match=r"root\.children\[0\]\.payload holds a value of 20000 bytes.*cut_values"):
        ps.write(message, tmp_path / "m", 4096)
    assert list(tmp_path.iterdir()) == []
    path = ps.write(message, tmp_path / "m", 4096, cut_values=True)
    assert ps.read(path, t.Everything) == message


# ---- SavedModels --------------------------------------------------------------------------------------


def test_saved_model_with_a_constant_larger_than_the_limit(tmp_path, tf_merger):
    """The reported corruption: a 512 KiB constant with max_chunk_size=64 KiB; TensorFlow's Merger must
    rebuild exactly the SavedModel we read, and TensorFlow must load and run it."""
    tf = pytest.importorskip("tensorflow")
    from proto_splitter import tensorflow as pstf

    values = np.arange(128 << 10, dtype=np.float32)

    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
        def apply(self, x):
            return x * tf.reduce_sum(tf.constant(values))

    export = tmp_path / "export"
    path = pstf.save(Module(), export, max_chunk_size=64 << 10)
    assert path.endswith("saved_model.cpb")
    from tensorflow.core.protobuf import saved_model_pb2

    ours = ps.read(path, saved_model_pb2.SavedModel)
    assert tf_merger.read(export / "saved_model", saved_model_pb2.SavedModel) == ours
    assert ours.ByteSize() > len(values) * 4
    loaded = pstf.load(export)
    assert float(loaded.apply(tf.constant(1.0))) == pytest.approx(float(values.sum()), rel=1e-6)


def test_graph_def_with_constants_larger_than_the_limit(tmp_path, tf_merger):
    from proto_splitter.tf import graph_pb2

    graph = graph_pb2.GraphDef()
    for index in range(4):
        node = graph.node.add(name=f"w{index}", op="Const")
        node.attr["value"].tensor.tensor_content = bytes([index]) * (100_000 + index)
        node.attr["value"].tensor.string_val.extend([b"s" * 70_000, b"t"])  # a repeated bytes field
    function = graph.library.function.add()
    function.node_def.add(name="inner", op="Const").attr["value"].tensor.tensor_content = b"\x02" * 90_000
    for options in (None, "snappy", "brotli:1"):
        path = ps.write(graph, tmp_path / "graph", 32 << 10, options)
        assert tf_merger.read(tmp_path / "graph", graph_pb2.GraphDef) == graph
        assert ps.read(path, graph_pb2.GraphDef) == graph
