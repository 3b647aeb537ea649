"""ps.Writer: files written piece by piece read back (ps.read) into exactly the message the calls describe, whatever
the calls (set whole or field by field, append or extend, buffers, any interleaving), the chunk limit and options;
chunks obey the size rule and stream out as the calls come; every misuse is refused with the library's errors and
leaves no file under the final name. TensorFlow's Merger reads the same files in tests/tensorflow/test_writer_tf.py.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from chunk_limits import assert_file_chunks_within_limit
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from writer_calls import replay, writable

import proto_splitter as ps
from core.strategies import any_messages, deep_chain, holders
from proto_splitter import _atomic, extensions
from proto_splitter.field_paths import Field, FieldPath, format_path, from_field_tags
from proto_splitter.testing import test_message3_pb2 as t3
from proto_splitter.testing import test_message_pb2 as t
from proto_splitter.testing import test_required_pb2 as tr
from proto_splitter.testing.elements import iter_elements
from proto_splitter.tf import graph_pb2, node_def_pb2

PROPERTY = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
limits = st.one_of(st.integers(64, 600), st.integers(600, 8192), st.sampled_from([1 << 16, None]))


def files(tmp_path):
    """A fresh prefix per hypothesis example."""
    counter = iter(range(1 << 30))
    return lambda: tmp_path / f"m{next(counter)}"


@PROPERTY
@given(
    message=any_messages(), limit=limits, options=st.sampled_from([None, "zstd:1", "chunk_size:1000"]), data=st.data()
)
def test_files_read_back_into_the_message_the_calls_describe(tmp_path_factory, message, limit, options, data):
    assume(writable(message))
    prefix = tmp_path_factory.mktemp("w") / "m"
    with ps.Writer(prefix, type(message), limit, options) as writer:
        replay(writer, message, data.draw)
    assert writer.path == f"{prefix}.cpb"
    assert ps.read(writer.path, type(message)) == message
    metadata = assert_file_chunks_within_limit(writer.path, limit or splitter_limit())
    assert metadata.version.join_version == 0
    written, _ = ps.write_to_bytes(message, limit, options)  # ps.write of the same content reads back equal
    assert ps.read_from_bytes(written, type(message)) == ps.read(writer.path, type(message))
    with ps.open(writer.path, type(message)) as handle:  # the file's index describes it (checked as it is used)
        assert handle.indexed and handle.read() == message


def splitter_limit() -> int:
    from proto_splitter.splitter import DEFAULT_MAX_CHUNK_SIZE

    return DEFAULT_MAX_CHUNK_SIZE


@PROPERTY
@given(message=holders(), limit=st.integers(200, 4000), data=st.data())
def test_required_fields_keep_every_chunk_mergeable(tmp_path_factory, message, limit, data):
    out = io.BytesIO()
    with ps.Writer(out, tr.Holder, limit) as writer:
        replay(writer, message, data.draw)
    assert writer.path is None
    assert ps.read(io.BytesIO(out.getvalue()), tr.Holder) == message


@PROPERTY
@given(message=any_messages(), limit=st.integers(64, 3000), data=st.data())
def test_cut_values_round_trip(tmp_path_factory, message, limit, data):
    assume(writable(message))
    out = io.BytesIO()
    with ps.Writer(out, type(message), limit, cut_values=True) as writer:
        replay(writer, message, data.draw)
    assert ps.read(io.BytesIO(out.getvalue()), type(message)) == message


def graph_def(nodes: int, constants: dict[int, np.ndarray]) -> graph_pb2.GraphDef:
    """The GraphDef the calls in test_graph_def_with_numpy_constants describe."""
    graph = graph_pb2.GraphDef()
    graph.versions.producer = 1987
    for index in range(nodes):
        node = graph.node.add(name=f"n{index}", op="Const" if index in constants else "AddV2", input=["a", "b"])
        if index in constants:
            tensor = node.attr["value"].tensor
            tensor.dtype = 1
            tensor.tensor_shape.dim.add(size=constants[index].size)
            tensor.tensor_content = constants[index].tobytes()
    graph.library.function.add().signature.name = "f"
    return graph


@pytest.mark.parametrize("limit", [4096, 1 << 20])
def test_graph_def_with_numpy_constants(tmp_path, limit):
    rng = np.random.default_rng(0)
    constants = {
        index: rng.standard_normal(size, dtype=np.float32) for index, size in [(3, 70000), (500, 10), (900, 9000)]
    }
    expected = graph_def(1000, constants)
    with ps.Writer(tmp_path / "model", graph_pb2.GraphDef, max_chunk_size=limit, options="zstd:1") as writer:
        for index in range(1000):
            node = node_def_pb2.NodeDef(
                name=f"n{index}", op="Const" if index in constants else "AddV2", input=["a", "b"]
            )
            buffers = None
            if index in constants:
                tensor = node.attr["value"].tensor
                tensor.dtype = 1
                tensor.tensor_shape.dim.add(size=constants[index].size)
                buffers = {"attr['value'].tensor.tensor_content": constants[index]}
            writer.append("node", node, buffers=buffers)
        writer.set("library", expected.library)
        writer.set("versions.producer", 1987)
    assert writer.path == str(tmp_path / "model.cpb")
    assert ps.read(tmp_path / "model", graph_pb2.GraphDef) == expected
    assert_file_chunks_within_limit(writer.path, limit)
    assert list(iter_elements(writer.path, graph_pb2.GraphDef, "node")) == list(expected.node)
    with ps.open(writer.path, graph_pb2.GraphDef) as handle:  # through the index the Writer wrote
        assert handle.indexed and handle.count("node") == 1000
        for index in [0, 3, 499, 500, 900, 999]:
            assert handle.find("node", f"n{index}") == index
            assert handle.get(f"node[{index}]") == expected.node[index]
        assert handle.find("node", "absent") is None
        assert handle.get("library") == expected.library and handle.get("versions.producer") == 1987


def test_an_element_larger_than_the_limit_is_cut_as_ps_write_cuts_it(tmp_path):
    big = t3.Op(name="big", input=[f"in{index}" for index in range(3000)])
    big.attr["value"].tensor.content = b"c" * 50000
    expected = t3.Graph(node=[t3.Op(name="a"), big, t3.Op(name="b")])
    with ps.Writer(tmp_path / "w", t3.Graph, max_chunk_size=4096) as writer:
        for node in expected.node:
            writer.append("node", node)
    metadata = assert_file_chunks_within_limit(writer.path, 4096)
    ps.write(expected, tmp_path / "p", max_chunk_size=4096)
    assert tree_paths(metadata) == tree_paths(ps.read_metadata(tmp_path / "p.cpb"))
    assert tree_paths(metadata).count("node[1]") == 6  # its 3000 inputs in fragments; its content a chunk of its own
    assert ps.read(writer.path, t3.Graph) == expected
    assert ps.read_partial(writer.path, t3.Graph, ["node[1]"]).node[1] == big
    assert list(iter_elements(writer.path, t3.Graph, "node")) == list(expected.node)


def tree_paths(metadata) -> list[str]:
    """The paths at which the chunk tree attaches chunks, sorted."""
    return sorted(
        format_path(from_field_tags(field.field_tag), t3.Graph.DESCRIPTOR) for field in metadata.message.chunked_fields
    )


def test_chunks_stream_out_as_elements_come():
    out = io.BytesIO()
    writer = ps.Writer(out, t3.Graph, max_chunk_size=1 << 16)
    nodes = [t3.Op(name=f"node{index}", op="AddV2") for index in range(100_000)]
    for node in nodes:
        writer.append("node", node)
    written = len(out.getvalue())
    writer.close()
    # pending: the root's chunk or a fragment (64 KiB), and the Riegeli chunk being filled (1 MiB by default)
    assert written > len(out.getvalue()) - (1 << 16) - (1 << 20) - 4096
    assert ps.read(io.BytesIO(out.getvalue()), t3.Graph) == t3.Graph(node=nodes)


def test_extend_takes_any_iterable_and_keeps_order_with_append(tmp_path):
    expected = t.Everything()
    with ps.Writer(tmp_path / "e", t.Everything, max_chunk_size=512) as writer:
        writer.extend("nodes", (t.Node(name=f"g{index}") for index in range(40000)))
        writer.append("nodes", t.Node(name="last", payload=b"p" * 3000))
        writer.extend("nodes", t.Everything(nodes=[t.Node(name="from"), t.Node(name="a list")]).nodes)
        writer.extend("nodes", t.Everything().nodes)
        writer.extend("repeateds.r_int64", range(-5000, 5000))
        writer.extend("repeateds.r_bytes", [b"x" * 700, b"", np.arange(300, dtype=np.uint8)])
        writer.put("maps.string_to_bytes", "k", b"v" * 2000)
        writer.put("maps.int64_to_node", 1 << 40, t.Node(name="wide key"))
    expected.nodes.extend(t.Node(name=f"g{index}") for index in range(40000))
    expected.nodes.add(name="last", payload=b"p" * 3000)
    expected.nodes.extend([t.Node(name="from"), t.Node(name="a list")])
    expected.repeateds.r_int64.extend(range(-5000, 5000))
    expected.repeateds.r_bytes.extend([b"x" * 700, b"", bytes(range(256)) + bytes(range(44))])
    expected.maps.string_to_bytes["k"] = b"v" * 2000
    expected.maps.int64_to_node[1 << 40].name = "wide key"
    assert ps.read(writer.path, t.Everything) == expected
    assert_file_chunks_within_limit(writer.path, 512)


def test_groups_and_extensions(tmp_path):
    expected = t.Everything()
    expected.single.label = "l" * 5000
    expected.item.add(id=1, data=b"d" * 3000)
    expected.Extensions[t.ext_number] = -3
    expected.Extensions[t.ext_blobs].extend([b"a" * 4000, b"b"])
    expected.Extensions[t.ext_node].name = "x" * 2000
    with ps.Writer(tmp_path / "g", t.Everything, max_chunk_size=1024) as writer:
        writer.set("single.label", "l" * 5000)  # inside a group: a nested tree of its own
        writer.append("item", expected.item[0])
        writer.set(FieldPath((Field(1002),)), -3)
        writer.extend(FieldPath((Field(1001),)), [b"a" * 4000, b"b"])
        writer.set(FieldPath((Field(1000),)), expected.Extensions[t.ext_node])
    assert ps.read(writer.path, t.Everything) == expected


def test_a_value_over_the_limit_is_cut_into_pieces_only_with_cut_values(tmp_path):
    data = np.arange(100_000, dtype=np.uint8)
    with ps.Writer(tmp_path / "c", t.Everything, max_chunk_size=4096, cut_values=True) as writer:
        writer.set("scalars.f_bytes", data)
    metadata = ps.read_metadata(writer.path)
    assert extensions.has_guard(metadata.message)
    assert ps.read(writer.path, t.Everything).scalars.f_bytes == data.tobytes()
    with ps.Writer(tmp_path / "d", t.Everything, max_chunk_size=4096) as writer:
        writer.set("scalars.f_bytes", data)
    assert not extensions.has_guard(ps.read_metadata(writer.path).message)
    assert max(chunk.size for chunk in ps.read_metadata(writer.path).chunks) == 100_000


def test_a_stale_pb_of_the_same_prefix_is_removed(tmp_path):
    ps.write(t3.Graph(version=1), tmp_path / "m")
    assert (tmp_path / "m.pb").exists()
    with ps.Writer(tmp_path / "m", t3.Graph) as writer:
        writer.set("version", 2)
    assert not (tmp_path / "m.pb").exists()
    assert ps.read(tmp_path / "m", t3.Graph).version == 2


# ---- errors -----------------------------------------------------------------------------------------------


@pytest.fixture
def writer(tmp_path):
    with ps.Writer(tmp_path / "x", t.Everything, max_chunk_size=1024) as opened:
        yield opened


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda w: w.set("nope", 1), ps.FieldPathError, "no field 'nope'"),
        (lambda w: w.set("scalars.nope", 1), ps.FieldPathError, "no field"),
        (lambda w: w.append("nodes[2].children", t.Node()), ps.FieldPathError, "whole"),
        (lambda w: w.set("maps.string_to_node['k'].name", "x"), ps.FieldPathError, "whole"),
        (lambda w: w.set("nodes.name", "x"), ps.FieldPathError, "singular message fields"),
        (lambda w: w.set("scalars.f_int32.x", 1), ps.FieldPathError, "not a message"),
        (lambda w: w.set(3, 1), ps.WriterError, "a str or a FieldPath"),
        (lambda w: w.set("scalars.f_int32", "seven"), ps.WriterError, "f_int32"),
        (lambda w: w.set("scalars.f_string", b"bytes"), ps.WriterError, "expected str"),
        (lambda w: w.set("scalars.f_bytes", 7), ps.WriterError, "expected bytes or a buffer"),
        (lambda w: w.set("scalars", t.Node()), ps.WriterError, "holds proto_splitter.testing.Scalars"),
        (lambda w: w.set("nodes", t.Node()), ps.WriterError, "use append"),
        (lambda w: w.set("maps.string_to_bytes", {}), ps.WriterError, "use put"),
        (lambda w: w.append("scalars", t.Scalars()), ps.WriterError, "use set"),
        (lambda w: w.append("nodes", "node"), ps.WriterError, "holds proto_splitter.testing.Node"),
        (lambda w: w.append("repeateds.r_int32", 1 << 40), ps.WriterError, "r_int32"),
        (lambda w: w.extend("nodes", [t.Node(), t.Scalars()]), ps.WriterError, "got proto_splitter.testing.Scalars"),
        (lambda w: w.extend("nodes", t.Repeateds(r_message=[{}]).r_message), ps.WriterError, "got proto_splitter"),
        (lambda w: w.put("nodes", 1, t.Node()), ps.WriterError, "not a map"),
        (lambda w: w.put("maps.int32_to_node", "one", t.Node()), ps.WriterError, "bad key"),
        (lambda w: w.put("maps.int32_to_node", 1, t.Scalars()), ps.WriterError, "holds proto_splitter.testing.Node"),
        (lambda w: w.put("maps.string_to_bytes", "k", 5), ps.WriterError, "expected bytes"),
        (lambda w: w.append("nodes", t.Node(), buffers={"nope": b""}), ps.FieldPathError, "no field"),
        (lambda w: w.append("nodes", t.Node(), buffers={"name": b""}), ps.FieldPathError, "singular bytes field"),
        (lambda w: w.append("nodes", t.Node(), buffers={"children[0].payload": b""}), ps.FieldPathError, "bytes"),
        (lambda w: w.append("nodes", t.Node(payload=b"p"), buffers={"payload": b""}), ps.WriterError, "already"),
        (lambda w: w.append("nodes", t.Node(), buffers={"payload": np.zeros((4, 4))[:, 0]}), ps.WriterError, "contig"),
        (lambda w: w.append("repeateds.r_int32", 1, buffers={"x": b""}), ps.WriterError, "scalars"),
        (lambda w: w.put("maps.int64_to_node", 1 << 40, t.Node(), buffers={"payload": b"x"}), ps.WriterError, "key"),
    ],
)
def test_calls_that_do_not_fit_the_message_type_are_refused(writer, call, error, match):
    with pytest.raises(error, match=match):
        call(writer)
    writer.set("root.name", "still usable")  # a refused call writes nothing and leaves the writer open


def test_a_singular_field_or_map_key_is_written_once(writer):
    writer.set("scalars.f_int32", 1)
    with pytest.raises(ps.WriterError, match="set already"):
        writer.set("scalars.f_int32", 2)
    writer.set("picked_node", t.Node())
    with pytest.raises(ps.WriterError, match="set already"):  # another member of the same oneof
        writer.set("picked_bytes", b"x")
    writer.put("maps.string_to_bytes", "k", b"1")
    with pytest.raises(ps.WriterError, match="key 'k' already"):
        writer.put("maps.string_to_bytes", "k", b"2")


def test_a_message_is_set_whole_or_written_into_not_both(writer):
    writer.set("scalars", t.Scalars(f_int32=1))
    with pytest.raises(ps.WriterError, match="set whole"):
        writer.set("scalars.f_int64", 2)
    writer.append("repeateds.r_int32", 1)
    with pytest.raises(ps.WriterError, match="written into field by field"):
        writer.set("repeateds", t.Repeateds())


def test_writing_after_close_or_abort_is_refused(tmp_path):
    writer = ps.Writer(tmp_path / "c", t.Everything)
    writer.set("root.name", "x")
    assert writer.close() == str(tmp_path / "c.cpb")
    assert writer.close() == str(tmp_path / "c.cpb")
    with pytest.raises(ps.WriterError, match="closed"):
        writer.set("scalars.f_int32", 1)
    aborted = ps.Writer(tmp_path / "a", t.Everything)
    aborted.abort()
    with pytest.raises(ps.WriterError, match="aborted"):
        aborted.append("nodes", t.Node())
    with pytest.raises(ps.WriterError, match="aborted"):
        aborted.close()
    assert sorted(os.listdir(tmp_path)) == ["c.cpb"]


def test_an_exception_leaves_no_file_under_the_final_name(tmp_path):
    with ps.Writer(tmp_path / "old", t3.Graph) as earlier:
        earlier.set("version", 1)
    before = (tmp_path / "old.cpb").read_bytes()
    with pytest.raises(RuntimeError), ps.Writer(tmp_path / "old", t3.Graph, max_chunk_size=64) as writer:
        writer.extend("node", (t3.Op(name=f"n{index}") for index in range(5000)))
        raise RuntimeError("producer failed")
    assert (tmp_path / "old.cpb").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["old.cpb"]


def test_missing_required_fields_are_refused_at_close_and_no_file_is_left(tmp_path):
    writer = ps.Writer(tmp_path / "r", tr.Holder)
    writer.set("label", "x")
    writer.set("blob.main", b"m")
    with pytest.raises(ps.SplitError, match=r"missing required fields: header, payload"):
        writer.close()
    assert os.listdir(tmp_path) == []
    with pytest.raises(ps.WriterError, match="missing required"):
        ps.Writer(tmp_path / "s", tr.Holder).append("blobs", tr.Blob())


def test_an_error_while_writing_fails_the_writer_and_discards_the_file(tmp_path):
    writer = ps.Writer(tmp_path / "deep", t.Everything, max_chunk_size=4096)
    writer.append("nodes", t.Node(name="ok"))
    deep = deep_chain(100).root  # an extension cannot be cut, and this one nests too deep for one chunk
    with pytest.raises(ps.SplitError, match="nests messages"):
        writer.set(FieldPath((Field(1000),)), deep)
    with pytest.raises(ps.WriterError, match="SplitError"):
        writer.append("nodes", t.Node())
    assert os.listdir(tmp_path) == []


def test_a_bad_element_after_earlier_batches_of_an_extend_fails_the_writer(tmp_path):
    writer = ps.Writer(tmp_path / "b", t.Everything)
    with pytest.raises(ps.WriterError, match="got str"):
        writer.extend("nodes", ["not a node"])  # first batch: nothing written, the writer stays open
    elements = [t.Node(name="n")] * 20000 + ["not a node"]
    with pytest.raises(ps.WriterError, match="got str"):
        writer.extend("nodes", elements)
    with pytest.raises(ps.WriterError, match="after writing others"):
        writer.close()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ((t3.Graph,), ps.ProtoSplitterError),
        ((t3.Graph, 10), ps.SplitError),
        ((t3.Graph, 1.5), ps.SplitError),
        ((t3.Graph, None, "zstd:99x"), ps.RiegeliError),
    ],
)
def test_bad_arguments(tmp_path, arguments, error):
    if arguments == (t3.Graph,):
        arguments = (t3.Graph(),)
    with pytest.raises(error):
        ps.Writer(tmp_path / "x", *arguments)
    assert os.listdir(tmp_path) == []
    with pytest.raises(ps.ChunkedFileNotFoundError):
        ps.Writer(tmp_path / "missing" / "x", t3.Graph)
    (tmp_path / "folder.cpb").mkdir()
    with pytest.raises(ps.WriteError, match="is a directory"):
        ps.Writer(tmp_path / "folder", t3.Graph)


def test_a_file_that_cannot_be_completed_is_a_write_error_and_leaves_nothing(tmp_path, monkeypatch):
    def refuse(source, destination):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_atomic.os, "replace", refuse)
    writer = ps.Writer(tmp_path / "w", t3.Graph, max_chunk_size=64)
    writer.extend("node", (t3.Op(name=f"n{index}") for index in range(100)))
    with pytest.raises(ps.WriteError, match="Permission denied"):
        writer.close()
    assert os.listdir(tmp_path) == []
    with pytest.raises(ps.WriterError, match="closing failed"):
        writer.close()
