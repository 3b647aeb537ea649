"""Hostile and broken input: every failure is a ProtoSplitterError subclass naming the problem; no hang, no
crash, no huge allocation from a forged size, and a failed write leaves nothing under the final name."""

from __future__ import annotations

import io
import os

import pytest

import proto_splitter as ps
from proto_splitter import field_paths, riegeli
from proto_splitter.merger import InMemoryChunks
from proto_splitter.proto import chunk_pb2
from proto_splitter.testing import test_message3_pb2 as t3

pytestmark = pytest.mark.timeout(60)
MESSAGE, BYTES = chunk_pb2.ChunkInfo.MESSAGE, chunk_pb2.ChunkInfo.BYTES


def graph() -> t3.Graph:
    message = t3.Graph(version=3)
    for index in range(6):
        node = message.node.add(name=f"n{index}", op="Const")
        node.attr["value"].tensor.content = bytes([index]) * 3000
    message.blobs[7] = b"b" * 5000
    return message


@pytest.fixture
def cpb(tmp_path):
    """A valid chunked file of graph() with 4 KiB chunks, and its metadata."""
    path = ps.write(graph(), tmp_path / "g", max_chunk_size=4096)
    return path, ps.read_metadata(path)


def forge(path, chunks: list[bytes], metadata: chunk_pb2.ChunkMetadata) -> str:
    """Writes a .cpb holding `chunks` then `metadata` (its ChunkInfo offsets filled in unless already set)."""
    with riegeli.RecordWriter(str(path)) as writer:
        for index, chunk in enumerate(chunks):
            writer.write_record(chunk)
            if index >= len(metadata.chunks):
                metadata.chunks.add(type=MESSAGE, size=len(chunk), offset=writer.last_pos.numeric)
        writer.write_message(metadata)
    return str(path)


def tree(chunk_index=0, *fields) -> chunk_pb2.ChunkedMessage:
    """A ChunkedMessage with chunk_index and (field_tags, ChunkedMessage) children."""
    message = chunk_pb2.ChunkedMessage(chunk_index=chunk_index)
    for tags, sub in fields:
        message.chunked_fields.add(field_tag=tags, message=sub)
    return message


def field(number):
    return chunk_pb2.FieldIndex(field=number)


def index(value):
    return chunk_pb2.FieldIndex(index=value)


def key_s(text):
    return chunk_pb2.FieldIndex(map_key=chunk_pb2.FieldIndex.MapKey(s=text))


ROOT = t3.Graph(version=1).SerializeToString()
NODE = t3.Op(name="x").SerializeToString()


@pytest.mark.parametrize(
    "metadata_tree, match",
    [
        (tree(5), "chunk index 5 is out of range"),
        (tree(0, ([field(1), index(0)], tree(0))), "referenced more than once"),
        (tree(0, ([field(99)], tree(1))), "99"),
        (tree(0, ([field(3), key_s("k")], tree(1))), "version"),
        (tree(0, ([field(2), index(0)], tree(1))), "library"),
        (tree(0, ([field(1), index(10**9)], tree(1))), "index"),
    ],
    ids=[
        "index out of range",
        "chunk used twice",
        "unknown field",
        "map key on a scalar",
        "index on a message",
        "index far past the list",
    ],
)
def test_forged_trees(tmp_path, metadata_tree, match):
    path = forge(tmp_path / "f.cpb", [ROOT, NODE], chunk_pb2.ChunkMetadata(message=metadata_tree))
    with pytest.raises(ps.ChunkedProtoError, match=match):
        ps.read(path, t3.Graph)


def test_chunk_of_the_wrong_type(tmp_path):
    metadata = chunk_pb2.ChunkMetadata(message=tree(0, ([field(1), index(0)], tree(1))))
    metadata.chunks.add(type=MESSAGE, size=len(ROOT))
    metadata.chunks.add(type=BYTES, size=len(NODE))
    path = forge(tmp_path / "f.cpb", [ROOT, NODE], metadata)
    with pytest.raises(ps.ChunkedProtoError, match="type BYTES but is used as MESSAGE"):
        ps.read(path, t3.Graph)


def test_bytes_chunk_is_not_a_message(tmp_path):
    metadata = chunk_pb2.ChunkMetadata(message=tree(0, ([field(1), index(0)], tree(1))))
    path = forge(tmp_path / "f.cpb", [ROOT, b"\xff\xff\xff garbage"], metadata)
    with pytest.raises(ps.ChunkedProtoError, match="not a valid"):
        ps.read(path, t3.Graph)


def test_depth_bomb_in_the_metadata(tmp_path):
    """A ChunkedMessage nested 10,000 deep: protobuf refuses to parse such metadata, which is reported."""
    data = b""
    for _ in range(10_000):  # ChunkedMessage{chunked_fields: ChunkedField{message: <data>}}
        inner = b"\x1a" + _varint(len(data)) + data
        data = b"\x12" + _varint(len(inner)) + inner
    with riegeli.RecordWriter(str(tmp_path / "bomb.cpb")) as writer:
        writer.write_record(ROOT)
        writer.write_record(b"\x1a" + _varint(len(data)) + data)  # ChunkMetadata.message
    with pytest.raises(ps.ChunkedProtoError):
        ps.read(tmp_path / "bomb.cpb", t3.Graph)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_offset_past_the_end_and_into_a_chunk(tmp_path, cpb):
    path, metadata = cpb
    for offset, match in ((10**12, "past the end"), (metadata.chunks[1].offset + 1, "chunk")):
        forged = chunk_pb2.ChunkMetadata()
        forged.CopyFrom(metadata)
        forged.chunks[1].offset = offset
        records = list(riegeli.RecordReader(path).read_records())[:-1]
        target = str(tmp_path / f"o{offset}.cpb")
        with riegeli.RecordWriter(target) as writer:
            writer.write_records(records)
            writer.write_message(forged)
        with pytest.raises(ps.ProtoSplitterError, match=match):
            ps.read(target, t3.Graph)


def test_forged_huge_size_allocates_nothing(tmp_path, cpb):
    path, metadata = cpb
    records = list(riegeli.RecordReader(path).read_records())[:-1]
    forged = chunk_pb2.ChunkMetadata()
    forged.CopyFrom(metadata)
    forged.chunks[0].size = 1 << 62
    with riegeli.RecordWriter(str(tmp_path / "huge.cpb")) as writer:
        writer.write_records(records)
        writer.write_message(forged)
    with pytest.raises(ps.ChunkedProtoError, match="metadata says"):
        ps.read(tmp_path / "huge.cpb", t3.Graph)


def test_join_version_from_the_future(tmp_path, cpb):
    path, metadata = cpb
    records = list(riegeli.RecordReader(path).read_records())[:-1]
    metadata.version.join_version = 99
    with riegeli.RecordWriter(str(tmp_path / "future.cpb")) as writer:
        writer.write_records(records)
        writer.write_message(metadata)
    with pytest.raises(ps.ChunkedProtoError, match="merger version 99"):
        ps.read(tmp_path / "future.cpb", t3.Graph)


def test_riegeli_file_without_records_and_last_record_not_metadata(tmp_path):
    with riegeli.RecordWriter(str(tmp_path / "empty.cpb")):
        pass
    with pytest.raises(ps.ProtoSplitterError):
        ps.read(tmp_path / "empty.cpb", t3.Graph)
    with riegeli.RecordWriter(str(tmp_path / "junk.cpb")) as writer:
        writer.write_record(b"\xff" * 40)
    with pytest.raises(ps.ChunkedProtoError):
        ps.read_metadata(tmp_path / "junk.cpb")


@pytest.mark.parametrize("cut", [0, 1, 15])
def test_an_empty_or_cut_cpb_is_a_damaged_riegeli_file(tmp_path, cpb, cut):
    """Not an empty message (a zero-byte .pb is one; a .cpb must hold Riegeli's signature and the metadata)."""
    path, _ = cpb
    target = tmp_path / "cut.cpb"
    target.write_bytes(open(path, "rb").read()[:cut])
    for source in (target, tmp_path / "cut"):
        with pytest.raises(ps.RiegeliError, match=r"not a Riegeli/records file|holds no records"):
            ps.read(source, t3.Graph)
    with pytest.raises(ps.RiegeliError):
        ps.read_metadata(target)
    with pytest.raises(ps.RiegeliError):
        ps.read_partial(target, t3.Graph, ["node[0]"])


def test_a_merger_merges_again(cpb):
    path, _ = cpb
    whole = ps.read(path, t3.Graph)
    chunks, chunked_message = ps.split(whole, 2048)
    merger = ps.Merger(InMemoryChunks(chunks))
    for _ in range(2):
        again = t3.Graph()
        merger.merge(chunked_message, again)
        assert again == whole
    part = t3.Graph()
    merger.merge(chunked_message, part, [field_paths.parse("node[2]", t3.Graph.DESCRIPTOR)])
    assert part.node[2] == whole.node[2]


def test_neither_pb_nor_cpb(tmp_path):
    (tmp_path / "noise.pb").write_bytes(os.urandom(5000))
    with pytest.raises(ps.ChunkedProtoError, match="not a chunked proto"):
        ps.read(tmp_path / "noise.pb", t3.Graph)


def test_paths_that_do_not_exist(tmp_path):
    with pytest.raises(ps.ChunkedFileNotFoundError):
        ps.read(tmp_path / "missing", t3.Graph)
    with pytest.raises(ps.ProtoSplitterError):
        ps.read(tmp_path / "missing.cpb", t3.Graph)
    with pytest.raises(ps.ProtoSplitterError):
        ps.read_metadata(tmp_path / "missing.cpb")


def test_truncated_files_always_fail_cleanly(tmp_path, cpb):
    path, _ = cpb
    data = open(path, "rb").read()
    for cut in [*list(range(1, len(data), max(1, len(data) // 60))), len(data) - 1]:
        target = tmp_path / "t.cpb"
        target.write_bytes(data[:cut])
        for action in (
            lambda: ps.read(target, t3.Graph),
            lambda: ps.read_metadata(target),
            lambda: ps.read_partial(target, t3.Graph, ["node[2]"]),
            lambda: ps.read(io.BytesIO(data[:cut]), t3.Graph),
        ):
            with pytest.raises(ps.ProtoSplitterError):
                action()


@pytest.mark.parametrize("bad", [0, -5, 10, "big", 2.5])
def test_bad_max_chunk_size(tmp_path, bad):
    with pytest.raises(ps.ProtoSplitterError):
        ps.write(graph(), tmp_path / "g", max_chunk_size=bad)
    with pytest.raises(ps.ProtoSplitterError):
        ps.split(graph(), bad)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("options", ["zstd:99999", "nonsense", "brotli:x", "chunk_size:-1", "transpose:x"])
def test_bad_options_leave_no_file_and_keep_the_old_one(tmp_path, options):
    old = ps.write(graph(), tmp_path / "g", max_chunk_size=4096)
    before = open(old, "rb").read()
    with pytest.raises(ps.ProtoSplitterError):
        ps.write(graph(), tmp_path / "g", max_chunk_size=4096, options=options)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.cpb"]
    assert open(old, "rb").read() == before


def test_bad_types(tmp_path, cpb):
    path, _ = cpb
    with pytest.raises(ps.ProtoSplitterError, match="protobuf message class"):
        ps.read(path, dict)
    with pytest.raises(ps.ProtoSplitterError):
        ps.write({"not": "a message"}, tmp_path / "x")
    with pytest.raises(ps.ProtoSplitterError):
        ps.write_to_bytes(b"raw bytes")
    assert not (tmp_path / "x.pb").exists() and not (tmp_path / "x.cpb").exists()


@pytest.mark.parametrize("text", ["node[", "nosuch", 'node["x"]', "version.deeper", "node[-1]", "blobs['k']"])
def test_malformed_field_paths(cpb, text):
    path, _ = cpb
    with pytest.raises(ps.FieldPathError):
        ps.read_partial(path, t3.Graph, [text])


def test_read_partial_equals_projection(cpb):
    path, _ = cpb
    original = graph()
    for fields in (["node[3]"], ["blobs[7]", "version"], ["node[1].attr['value']"], ["library"]):
        assert ps.read_partial(path, t3.Graph, fields) == ps.project(
            original, [field_paths.parse(text, t3.Graph.DESCRIPTOR) for text in fields]
        )
