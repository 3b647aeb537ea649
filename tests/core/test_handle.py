"""`ps.open`: every path a handle answers (get, count, iter, read_partial, find) equals the same path of the
whole message, for random messages of every test schema and random chunk limits, with the file's index, without
it (the handle scans the file), and for plain `.pb` data; every kind of source; threads."""

from __future__ import annotations

import io
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

import proto_splitter as ps
from proto_splitter import descriptors, field_paths, files
from proto_splitter.testing import test_message3_pb2 as t3
from proto_splitter.tf import graph_pb2

from .strategies import any_messages, draw_field_paths

SETTINGS = settings(
    deadline=None,
    max_examples=examples(60),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MISSING = object()


def chunked_bytes(message, limit: int, options: str | None = None) -> bytes:
    """`message` as a `.cpb` byte string, even when it fits one chunk."""
    out = io.BytesIO()
    files.write_chunked(message, out, limit, options)
    return out.getvalue()


def value_at(message, path: field_paths.FieldPath):
    """What a handle's get gives for `path` of a whole message: MISSING when an element or entry on the way is not
    there; lists and maps as Python lists and dicts."""
    current = message
    for segment in field_paths.resolve(message.DESCRIPTOR, path):
        items = descriptors.container(current, segment.field)
        subscript = segment.subscript
        if isinstance(subscript, field_paths.Index):
            if subscript.value >= len(items):
                return MISSING
            current = items[subscript.value]
        elif isinstance(subscript, field_paths.Key):
            if subscript.value not in items:
                return MISSING
            current = items[subscript.value]
        else:
            current = items
    if descriptors.is_repeated(segment.field) and subscript is None:
        return dict(current) if descriptors.is_map(segment.field) else list(current)
    return current


def check_paths(handle, message, texts: list[str]) -> None:
    """Every question about `texts` gets the whole message's answer."""
    descriptor = message.DESCRIPTOR
    paths = [field_paths.parse(text, descriptor) for text in texts]
    for text, path in zip(texts, paths, strict=True):
        expected = value_at(message, path)
        if expected is MISSING:
            with pytest.raises(ps.ElementNotFoundError):
                handle.get(text)
            continue
        assert handle.get(text) == expected, text
        last = field_paths.resolve(descriptor, path)[-1]
        if descriptors.is_repeated(last.field) and last.subscript is None:
            assert handle.count(text) == len(expected), text
            if not descriptors.is_map(last.field):
                assert list(handle.iter(text)) == expected, text
    assert handle.read_partial(texts) == ps.project(message, paths)


@SETTINGS
@given(
    message=any_messages(),
    limit=st.integers(64, 4096),
    options=st.sampled_from([None, "zstd:1", "chunk_size:1000"]),
    data=st.data(),
)
def test_every_path_equals_the_whole_message(message, limit, options, data):
    texts = draw_field_paths(data.draw, message, max_paths=6)
    cpb = chunked_bytes(message, limit, options)
    for use_index in (True, False):
        with ps.open(cpb, type(message), use_index=use_index) as handle:
            assert handle.indexed is use_index
            check_paths(handle, message, texts)
            assert handle.read() == message
    with ps.open(message.SerializeToString(), type(message)) as handle:
        assert handle.metadata is None
        check_paths(handle, message, texts)


def small_graph(nodes: int = 3000, constants: int = 12) -> graph_pb2.GraphDef:
    """A GraphDef of `constants` 40 KB constants among `nodes` small nodes, with versions and a library."""
    graph = graph_pb2.GraphDef()
    graph.versions.producer = 17
    for index in range(nodes):
        node = graph.node.add(name=f"n{index}", op="AddV2", input=[f"n{index - 1}"])
        if index % (nodes // constants) == 0:
            node.op = "Const"
            node.attr["value"].tensor.tensor_content = index.to_bytes(4, "little") * 10_000
    graph.library.function.add().signature.name = "f"
    return graph


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory):
    graph = small_graph()
    path = ps.write(graph, tmp_path_factory.mktemp("graph") / "g", max_chunk_size=8_000)
    return path, graph


def test_a_list_split_over_many_chunks(graph_file):
    path, graph = graph_file
    metadata = ps.read_metadata(path)
    assert sum(1 for field in metadata.message.chunked_fields if not field.field_tag) > 5  # many node chunks
    with ps.open(path, graph_pb2.GraphDef) as handle:
        assert handle.indexed and handle.count("node") == len(graph.node)
        for index in [0, 1, 249, 250, 1499, 2999]:
            assert handle.get(f"node[{index}]") == graph.node[index]
            assert handle.find("node", graph.node[index].name) == index
        assert handle.find("node", "absent") is None
        assert handle.get("versions.producer") == 17 and handle.get("library") == graph.library
        assert list(handle.iter("node")) == list(graph.node)
        with pytest.raises(ps.ElementNotFoundError, match="node"):
            handle.get("node[3000]")
        with pytest.raises(ps.FieldPathError):
            handle.get("nodes[1]")
        with pytest.raises(ps.FieldPathError):
            handle.find("versions", "x")


@pytest.mark.parametrize("kind", ["path", "prefix", "bytes", "file object", "file object past other data", "stream"])
def test_every_kind_of_source(graph_file, kind, tmp_path):
    path, graph = graph_file
    data = open(path, "rb").read()
    if kind == "path":
        source = path
    elif kind == "prefix":
        source = path[: -len(".cpb")]
    elif kind == "bytes":
        source = data
    elif kind == "stream":
        source = _Stream(data)
    else:
        source = io.BytesIO((b"x" * 100 if "past" in kind else b"") + data)
        source.seek(100 if "past" in kind else 0)
    with ps.open(source, graph_pb2.GraphDef) as handle:
        assert handle.get("node[2500]") == graph.node[2500]
        assert handle.read() == graph
        assert handle.read_partial(["node[7]"]).node[7] == graph.node[7]


class _Stream(io.RawIOBase):
    """A non-seekable stream."""

    def __init__(self, data: bytes):
        super().__init__()
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._data.readinto(buffer)


def test_threads_share_a_handle(graph_file):
    path, graph = graph_file
    failures = []

    def work(start: int) -> None:
        try:
            for index in range(start, len(graph.node), 97):
                assert handle.get(f"node[{index}]") == graph.node[index]
        except Exception as error:  # noqa: BLE001 (reported by the test)
            failures.append(error)

    with ps.open(path, graph_pb2.GraphDef) as handle:
        threads = [threading.Thread(target=work, args=(start,)) for start in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not failures


def test_a_long_list_of_small_elements_in_one_big_chunk(tmp_path):
    """Elements found from checkpoints, a span or two of a chunk read: its other bytes are never read."""
    graph = t3.Graph()
    for index in range(200_000):
        graph.node.add(name=f"add_{index}", op="AddV2")
    path = tmp_path / "g.cpb"
    files.write_chunked(graph, str(path))
    with ps.open(path, t3.Graph) as handle:
        assert handle.count("node") == 200_000
        for index in (0, 77_777, 199_999):
            assert handle.get(f"node[{index}]") == graph.node[index]
    with open(path, "r+b") as damaged:  # damage far from the elements read: never noticed
        damaged.seek(len(graph.SerializeToString()) // 2)
        damaged.write(b"\xff")
    with ps.open(path, t3.Graph) as handle:
        assert handle.get("node[3]") == graph.node[3]
        with pytest.raises(ps.ProtoSplitterError):
            handle.read()


def test_a_map_beside_chunks_of_its_siblings():
    """A whole map (no key) of a message whose list elements have chunks of their own: only the map is taken."""
    from proto_splitter.testing import test_required_pb2 as tr

    holder = tr.Holder(blob=tr.Blob(main=b"m", stamp=tr.Stamp(seconds=1)))
    child = holder.child
    child.blob.main, child.blob.stamp.seconds = b"c", 2
    child.blobs.add(main=b"small", stamp=tr.Stamp(seconds=3))
    child.blobs.add(main=b"x" * 3000, stamp=tr.Stamp(seconds=4))
    child.named["a"].main, child.named["a"].stamp.seconds = b"y" * 50, 5
    data = chunked_bytes(holder, 500)
    below = [field.field_tag for field in ps.read_metadata(data).message.chunked_fields]
    assert any([tag.field for tag in tags[:2]] == [5, 3] for tags in below)  # chunks below child.blobs
    with ps.open(data, tr.Holder) as handle:
        assert handle.get("child.named") == dict(child.named)
        assert handle.read_partial(["child.named"]) == ps.project(
            holder, [field_paths.parse("child.named", tr.Holder.DESCRIPTOR)]
        )
