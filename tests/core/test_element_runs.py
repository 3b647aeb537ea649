"""Runs of list elements (element_runs): the C extension and the Python fallback give the same runs, never put an
element too big or too deep into a run, and never under-estimate how deep a message nests; and ps.write, whether
it serializes a message in one call (plan_write) or element by element, writes files that read back equal."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from chunk_limits import assert_file_chunks_within_limit
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

import proto_splitter as ps
from core.strategies import any_messages, deep_chain
from proto_splitter import element_runs, registry, wire
from proto_splitter.splitter import MAX_CHUNK_DEPTH, _nesting_depth
from proto_splitter.testing import test_message3_pb2 as t3
from proto_splitter.testing import test_message_pb2 as t
from proto_splitter.testing.graphs import graph_def_like

pytestmark = pytest.mark.skipif(element_runs._element_runs is None, reason="the _element_runs extension is not built")
NODE_KEY = (1 << 3) | wire.LEN


@contextlib.contextmanager
def in_python():
    """Runs element_runs on its Python fallback inside the block."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(element_runs, "_element_runs", None)
        yield


def serialized_graph(sizes: list[int]) -> bytes:
    graph = t3.Graph(version=1)
    for index, size in enumerate(sizes):
        graph.node.add(name=f"n{index}").attr["a"].tensor.content = b"x" * size
        if index % 7 == 3:
            graph.library.function.add(name="between")  # another field: cut and walked past
    return graph.SerializePartialToString(deterministic=True)


@settings(max_examples=examples(60), deadline=None)
@given(sizes=st.lists(st.integers(0, 3000), max_size=80), budget=st.integers(1, 5000), limit=st.integers(1, 4000))
def test_cut_is_the_same_in_c_and_python(sizes, budget, limit):
    data = serialized_graph(sizes)
    fast = list(element_runs.cut(data, 0, len(data), NODE_KEY, budget, limit, element_runs.UNLIMITED))
    with in_python():
        assert list(element_runs.cut(data, 0, len(data), NODE_KEY, budget, limit, element_runs.UNLIMITED)) == fast
    covered = sorted((start, end) for start, end, _ in fast)
    assert [o.start for o in wire.scan(data) if o.field_number == 1] == [start for start, _ in _split(data, covered)]
    for start, end, index in fast:
        occurrences = list(wire.scan(data, start, end))
        if index < 0:
            assert end - start <= budget or len(occurrences) == 1  # a run is within budget, or one element
            assert all(occ.payload_size < limit for occ in occurrences)
        else:
            assert len(occurrences) == 1
            assert occurrences[0].payload_size >= limit


def _split(data: bytes, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The node occurrences inside the given spans, in order."""
    return [(occ.start, occ.end) for start, end in spans for occ in wire.scan(data, start, end)]


def frames(serialized: list[bytes], budget: int, limit: int, room: int) -> list:
    source = element_runs.FrameSource(iter(serialized))
    result = []
    while True:
        run, count, stop = element_runs.frame(source, b"\x0a", b"", budget, limit, room)
        result.append((run, count, stop))
        if stop is None and count == 0:
            return result


@settings(max_examples=examples(60), deadline=None)
@given(sizes=st.lists(st.integers(0, 300), max_size=60), budget=st.integers(1, 2000), limit=st.integers(1, 400))
def test_frame_is_the_same_in_c_and_python(sizes, budget, limit):
    serialized = [t3.Op(name="n" * size).SerializePartialToString() for size in sizes]
    fast = frames(serialized, budget, limit, element_runs.UNLIMITED)
    with in_python():
        assert frames(serialized, budget, limit, element_runs.UNLIMITED) == fast
    framed = b"".join(run for run, _, _ in fast)
    alone = [stop for _, _, stop in fast if stop is not None]
    inline = [data for data in serialized if len(data) < limit]
    assert [bytes(framed[o.payload_start : o.end]) for o in wire.scan(framed)] == inline
    assert alone == [data for data in serialized if len(data) >= limit]
    assert all(len(run) <= budget or count == 1 for run, count, _ in fast)


def test_frame_hands_back_the_error_of_an_element(monkeypatch):
    def elements():
        yield b"\x08\x01"
        raise ValueError("cannot serialize")

    for extension in (element_runs._element_runs, None):
        monkeypatch.setattr(element_runs, "_element_runs", extension)
        run, count, stop = element_runs.frame(element_runs.FrameSource(elements()), b"\x0a", b"", 100, 10, 5)
        assert (run, count) == (b"\x0a\x02\x08\x01", 1)
        assert isinstance(stop, ValueError)


def test_frame_frames_groups_with_their_end_tag():
    source = element_runs.FrameSource(iter([b"\x08\x01", b""]))
    run, count, stop = element_runs.frame(source, wire.encode_tag(6, 3), wire.encode_tag(6, 4), 100, 10, 5)
    assert (run, count, stop) == (b"\x33\x08\x01\x34\x33\x34", 2, None)


@settings(max_examples=examples(60), deadline=None)
@given(message=any_messages(), cap=st.integers(1, 200))
def test_sublevels_never_falls_short(message, cap):
    data = message.SerializePartialToString()
    found = element_runs.sublevels(data, 0, len(data), cap)
    true = _nesting_depth(message.DESCRIPTOR, memoryview(data), 0, len(data), cap + 2) - 1
    assert min(true, cap) <= found <= cap


@pytest.mark.parametrize("depth", [1, 40, 79, 80, 150])
def test_sublevels_of_a_chain(depth):
    data = deep_chain(depth, payload_size=0, leaf_extras=False).root.SerializePartialToString()
    assert element_runs.sublevels(data, 0, len(data), MAX_CHUNK_DEPTH) >= min(depth - 1, MAX_CHUNK_DEPTH)
    assert element_runs.sublevels(b"\xff\xff", 0, 2, 7) == 7  # bytes that do not parse: as deep as can be


def test_deep_elements_of_a_long_list_are_walked_not_run(tmp_path):
    message = t.Everything()
    for index in range(30):
        message.nodes.add(name=f"n{index}")
    message.nodes[12].CopyFrom(deep_chain(120, payload_size=1, leaf_extras=False).root)
    path = ps.write(message, tmp_path / "deep", max_chunk_size=1 << 16)
    assert ps.read(path, t.Everything) == message


# ---- ps.write: one call or element by element ----------------------------------------------------------------


def small_graph(count: int) -> t3.Graph:
    graph = t3.Graph(version=4)
    for index in range(count):
        graph.node.add(name=f"add_{index}", op="AddV2", input=[f"x{index % 7}"]).attr["T"].s = "DT_FLOAT"
    return graph


def test_many_small_elements_are_serialized_in_one_call(monkeypatch):
    small = small_graph(5000)
    size = small.ByteSize()
    monkeypatch.setattr(registry, "_resident_bytes", lambda: 8 * size)  # a process holding about the message
    assert registry.plan_write(small, 1 << 16).serialized == small.SerializePartialToString(deterministic=True)
    assert registry.plan_write(small_graph(100), 1 << 16).serialized is None  # too few to be worth it
    graph = graph_def_like(40, constant_size=1 << 16, small_nodes=2000)
    size = graph.ByteSize()
    monkeypatch.setattr(registry, "_resident_bytes", lambda: size)  # mostly bytes: element by element
    assert registry.plan_write(graph, 1 << 16).serialized is None
    monkeypatch.setattr(registry, "_resident_bytes", lambda: 8 * size)
    monkeypatch.setattr(registry, "_physical_bytes", lambda: 16 * size)  # the process holds half the machine
    assert registry.plan_write(small, 1 << 16).serialized is None


@pytest.mark.parametrize("one_call", [True, False])
@pytest.mark.parametrize("limit", [4096, 1 << 20, None])
def test_both_ways_write_files_that_read_back_equal(tmp_path, monkeypatch, one_call, limit):
    graph = small_graph(6000)
    for index in itertools.islice(range(0, 6000, 1000), 4):
        graph.node[index].attr["big"].tensor.content = bytes([index % 251]) * 70000
    at_once = (lambda message: message.SerializePartialToString(deterministic=True)) if one_call else (lambda _: None)
    monkeypatch.setattr(registry, "serialize_at_once", at_once)
    path = ps.write(graph, tmp_path / "g", limit)
    chunked = limit is not None and graph.ByteSize() > limit
    assert path.endswith(".cpb" if chunked else ".pb")
    assert ps.read(path, t3.Graph) == graph
    if chunked:
        assert_file_chunks_within_limit(path, limit)
    chunks, chunked = ps.split(graph, limit)
    assert ps.merge(chunks, chunked, t3.Graph) == graph
