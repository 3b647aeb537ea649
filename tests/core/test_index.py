"""The index every `.cpb` carries (index.proto): where it lives, what it says, and that a damaged or inconsistent
index is an error (ProtoSplitterError: RiegeliError, IndexMismatchError), never a wrong element."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest

import proto_splitter as ps
from proto_splitter import files, index_builder, records, riegeli, wire
from proto_splitter.index import INDEX_FIELD, Index, metadata_hash, to_bytes
from proto_splitter.proto import chunk_pb2, index_pb2
from proto_splitter.riegeli.highwayhash import highway_hash
from proto_splitter.testing import test_message3_pb2 as t3
from proto_splitter.tf import graph_pb2, node_def_pb2

SPAN = 256 << 10


def graph(nodes: int = 40_000, constant: int = 600_000) -> graph_pb2.GraphDef:
    """Small nodes around two constants, one of them larger than a span; a library and versions."""
    message = graph_pb2.GraphDef()
    message.versions.producer = 3
    for index in range(nodes):
        node = message.node.add(name=f"node_{index}", op="AddV2")
        if index in (5, nodes // 2):
            node.op = "Const"
            node.attr["value"].tensor.tensor_content = bytes([index % 251]) * constant
    return message


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[bytes, graph_pb2.GraphDef]:
    message = graph()
    out = io.BytesIO()
    files.write_chunked(message, out, 400_000, "chunk_size:1000")  # each record in a Riegeli chunk of its own
    return out.getvalue(), message


def records_of(data: bytes) -> list[tuple[int, bytes]]:
    with riegeli.RecordReader(data) as reader:
        return [(reader.last_pos.numeric, record) for record in reader.read_records()]


def rebuilt(data: bytes, edit_index=None, edit_metadata=None) -> bytes:
    """The file rewritten record by record, its index (a ChunkIndex message) and metadata edited; chunk offsets and
    the index's location follow, and the index is bound to the new metadata unless `edit_metadata` breaks that."""
    records = records_of(data)
    metadata = chunk_pb2.ChunkMetadata.FromString(records[-1][1])
    proto = index_pb2.ChunkIndex()
    proto.ParseFromString(dict(records)[metadata.index.offset])
    out = io.BytesIO()
    with riegeli.RecordWriter(out) as writer:
        moved = {}
        for position, record in records[:-1]:
            if position != metadata.index.offset:  # the ChunkIndex record is written anew below
                writer.write_record(record)
                moved[position] = writer.last_pos.numeric
        for info in metadata.chunks:
            info.offset = moved[info.offset]
        for table in proto.key_tables:
            if table.record_size:
                table.record_offset = moved[table.record_offset]
        metadata.ClearField("index")
        proto.metadata_hash = metadata_hash(metadata.SerializeToString(deterministic=True))
        if edit_index is not None:
            edit_index(proto)
        if edit_metadata is not None:
            edit_metadata(metadata)
        record = proto.SerializeToString()
        writer.write_record(record)
        metadata.index.CopyFrom(index_pb2.IndexLocation(version=1, offset=writer.last_pos.numeric, size=len(record)))
        writer.write_message(metadata)
    return out.getvalue()


def test_the_index_lives_where_tensorflow_does_not_look(written):
    data, _ = written
    records = records_of(data)
    metadata = chunk_pb2.ChunkMetadata.FromString(records[-1][1])
    chunk_positions = {info.offset for info in metadata.chunks}
    assert metadata.index.offset not in chunk_positions  # no ChunkInfo names it
    assert [o.field_number for o in wire.scan(records[-1][1])][-1] == INDEX_FIELD
    index = Index.from_record(dict(records)[metadata.index.offset], metadata.chunks)
    assert index.metadata_hash == metadata_hash(records[-1][1])
    table = index.key_tables[((), 1)]
    assert table.count == 40_000 and table.entries is None and table.record_size == 8 * 40_000
    assert len(table.owner_entries) == 2  # the two constants, whose chunks lie below their nodes
    for chunk, info in enumerate(metadata.chunks):  # a hash per span of big MESSAGE records, else of the whole
        record = dict(records)[info.offset]
        span, hashes = index.hashes_of(chunk, info.size)
        if info.type == chunk_pb2.ChunkInfo.MESSAGE and info.size >= SPAN:
            assert span == SPAN
        else:
            assert span == info.size and len(hashes) == 1
        assert hashes.tolist() == [highway_hash(record[s : s + span]) for s in range(0, len(record), span)]
    assert len(dict(records)[metadata.index.offset]) >= 64 << 10  # padded: see index.proto


def test_a_record_of_its_own_is_read_in_part(written, monkeypatch):
    """A node of a 400 KB record costs one span of it, not the record (nor its Riegeli chunk's hash)."""
    data, message = written
    with ps.open(data, graph_pb2.GraphDef) as handle:
        calls = []
        real = riegeli.RecordReader.read_record

        def counted(self, *args, **kwargs):
            calls.append(1)
            return real(self, *args, **kwargs)

        monkeypatch.setattr(riegeli.RecordReader, "read_record", counted)
        assert handle.get("node[20000]") == message.node[20000]
        assert handle.find("node", "node_100") == 100  # a page of the key table, a span of the root chunk
        assert not calls


def test_a_flipped_byte_in_the_index_is_an_error(written):
    data, message = written
    metadata = ps.read_metadata(data)
    damaged = bytearray(data)
    damaged[metadata.index.offset + 100] ^= 0x40  # inside the index's record (its Riegeli chunk's data)
    with pytest.raises(ps.RiegeliError):
        ps.open(bytes(damaged), graph_pb2.GraphDef)
    index = Index.from_record(dict(records_of(data))[metadata.index.offset], metadata.chunks)
    table = index.key_tables[((), 1)]
    damaged = bytearray(data)
    damaged[table.record_offset + 1000] ^= 0x40  # inside the key table's record, read only by find
    with ps.open(bytes(damaged), graph_pb2.GraphDef) as handle:
        assert handle.get("node[33]") == message.node[33]
        with pytest.raises(ps.ProtoSplitterError):
            for index in range(0, 40_000, 997):
                handle.find("node", f"node_{index}")
    assert ps.read(bytes(damaged), graph_pb2.GraphDef) == message  # the message itself is intact


def test_an_index_beside_other_metadata_is_refused(written):
    data, _ = written

    def rename(metadata):
        metadata.version.splitter_version = 7

    forged = rebuilt(data, edit_metadata=rename)
    with pytest.raises(ps.IndexMismatchError, match="not made for this file's metadata"):
        ps.open(forged, graph_pb2.GraphDef)
    with ps.open(forged, graph_pb2.GraphDef, use_index=False) as handle:  # scanning ignores it
        assert handle.get("node[7]") == written[1].node[7]


def test_an_index_of_another_file_is_refused(written, tmp_path):
    data, _ = written
    other = io.BytesIO()
    files.write_chunked(graph(nodes=100), other, 400)
    other_metadata = ps.read_metadata(other.getvalue())
    other_index = dict(records_of(other.getvalue()))[other_metadata.index.offset]
    records = records_of(data)
    out = io.BytesIO()
    with riegeli.RecordWriter(out) as writer:
        positions = {}
        for position, record in records[:-1]:
            writer.write_record(record)
            positions[position] = writer.last_pos.numeric
        writer.write_record(other_index)
        metadata = chunk_pb2.ChunkMetadata.FromString(records[-1][1])
        for info in metadata.chunks:
            info.offset = positions[info.offset]
        metadata.index.offset, metadata.index.size = writer.last_pos.numeric, len(other_index)
        writer.write_message(metadata)
    with pytest.raises(ps.IndexMismatchError):
        ps.open(out.getvalue(), graph_pb2.GraphDef)


@pytest.mark.parametrize("damage", ["span hash", "record hash", "checkpoint offset", "key table span", "fields rows"])
def test_a_forged_index_is_an_error_not_a_wrong_element(written, damage):
    """Indexes rewritten with valid Riegeli hashes but wrong contents: the hashes they hold no longer match the
    records, or what they say is refuted where it is used. (Counts and ordinals that are wrong yet consistent
    with each other cannot be told from right ones without reading every record: the index is trusted as far as
    its binding to the file goes, see index.py.)"""
    data, message = written

    def edit(proto: index_pb2.ChunkIndex) -> None:
        if damage == "span hash":
            spans = np.frombuffer(proto.records.span_hashes, dtype="<u8").copy()
            spans[:] ^= 1
            proto.records.span_hashes = to_bytes(spans)
        elif damage == "record hash":
            hashes = np.frombuffer(proto.records.hashes, dtype="<u8").copy()
            hashes[hashes != 0] ^= 1
            proto.records.hashes = to_bytes(hashes)
        elif damage == "checkpoint offset":
            for stream in proto.streams:
                points = np.frombuffer(stream.checkpoints, dtype="<u8").reshape(-1, 2).copy()
                points[1:, 1] += 3
                stream.checkpoints = to_bytes(points)
        elif damage == "key table span":
            table = proto.key_tables[0]
            spans = np.frombuffer(table.record_span_hashes, dtype="<u8").copy()
            spans[:] ^= 1
            table.record_span_hashes = to_bytes(spans)
        else:
            for stream in proto.streams:
                stream.fields = stream.fields[:-8]

    forged = rebuilt(data, edit_index=edit)
    try:
        handle = ps.open(forged, graph_pb2.GraphDef)
    except ps.IndexMismatchError:
        return
    with handle:
        for index in (7, 20_001, 39_999):
            try:
                node = handle.get(f"node[{index}]")
            except ps.ProtoSplitterError:
                continue
            assert node == message.node[index]
        for name in ("node_7", "node_39998"):
            try:
                found = handle.find("node", name)
            except ps.ProtoSplitterError:
                continue
            assert found == int(name.rsplit("_", 1)[1])


def without_index(data: bytes) -> bytes:
    """The file with its index left out, as TensorFlow writes files: each record in a Riegeli chunk of its own."""
    records = records_of(data)
    metadata = chunk_pb2.ChunkMetadata.FromString(records[-1][1])
    stripped = io.BytesIO()
    with riegeli.RecordWriter(stripped, "uncompressed,chunk_size:1000") as writer:
        positions = {}
        for position, record in records[:-1]:
            if position != metadata.index.offset:
                writer.write_record(record)
                positions[position] = writer.last_pos.numeric
        for info in metadata.chunks:
            info.offset = positions[info.offset]
        metadata.ClearField("index")
        writer.write_message(metadata)
    return stripped.getvalue()


def assert_scanned_alike(unindexed, data: bytes, message: graph_pb2.GraphDef) -> None:
    with ps.open(unindexed, graph_pb2.GraphDef) as handle, ps.open(data, graph_pb2.GraphDef) as indexed:
        assert not handle.indexed and indexed.indexed
        scanned, written_index = handle.resolver.index, indexed.resolver.index
        assert set(scanned.streams) == set(written_index.streams)
        for chunk, stream in scanned.streams.items():
            assert (stream.counts == written_index.streams[chunk].counts).all()
            assert (stream.checkpoints == written_index.streams[chunk].checkpoints).all()
            size = handle.resolver.records.size(chunk)
            assert scanned.hashes_of(chunk, size)[1].tolist() == written_index.hashes_of(chunk, size)[1].tolist()
        assert handle.get("node[31111]") == message.node[31111]
        assert handle.get("node[5]") == message.node[5]
        assert handle.find("node", "node_5") == 5


def test_files_without_an_index_are_scanned_alike(written):
    """A file whose metadata has no index (TensorFlow's, or older ones): the scan builds the same summaries."""
    data, message = written
    assert_scanned_alike(without_index(data), data, message)


@pytest.mark.parametrize("window", [1000, SPAN + 7, 1 << 20])
def test_big_records_are_scanned_window_by_window_alike(written, tmp_path, monkeypatch, window):
    """Records read straight from a file a window at a time (one buffer, never a whole record) give the same
    summaries and span hashes as the writer's index, whatever the window."""
    data, message = written
    path = tmp_path / "unindexed.cpb"
    path.write_bytes(without_index(data))
    monkeypatch.setattr(records, "DIRECT_SCAN", 1)
    monkeypatch.setattr(records, "SCAN_WINDOW", window)
    pieces = []
    scan_pieces = records.RecordAccess.scan_pieces
    monkeypatch.setattr(
        records.RecordAccess,
        "scan_pieces",
        lambda self, chunk, consumer: scan_pieces(
            self, chunk, lambda piece: pieces.append(len(piece)) or consumer(piece)
        ),
    )
    assert_scanned_alike(str(path), data, message)
    sizes = [info.size for info in ps.read_metadata(str(path)).chunks if info.type != chunk_pb2.ChunkInfo.BYTES]
    assert max(pieces) <= window and len(pieces) == sum(-(-size // window) for size in sizes)


@pytest.mark.parametrize("where", [0.1, 0.5, 0.999])
def test_a_damaged_byte_in_a_record_scanned_by_windows_is_an_error(written, tmp_path, monkeypatch, where):
    data, _ = written
    unindexed = bytearray(without_index(data))
    metadata = ps.read_metadata(bytes(unindexed))
    biggest = max((info for info in metadata.chunks if info.type == chunk_pb2.ChunkInfo.MESSAGE), key=lambda i: i.size)
    at = records.content_position(biggest.offset, 64 + int(biggest.size * where))
    unindexed[at] ^= 0x40
    path = tmp_path / "damaged.cpb"
    path.write_bytes(bytes(unindexed))
    monkeypatch.setattr(records, "DIRECT_SCAN", 1)
    monkeypatch.setattr(records, "SCAN_WINDOW", 4096)
    with pytest.raises(ps.ProtoSplitterError, match="hash mismatch"):
        ps.open(str(path), graph_pb2.GraphDef)


def test_key_tables_of_maps_and_keyed_types():
    """String-keyed maps and lists of registered types get key tables; a list of other messages does not."""
    message = t3.Graph()
    for index in range(100):
        message.node.add(name=f"op{index}")
    assert index_builder.is_keyed(graph_pb2.GraphDef.DESCRIPTOR.fields_by_name["node"])
    assert not index_builder.is_keyed(t3.Graph.DESCRIPTOR.fields_by_name["node"])
    assert index_builder.is_keyed(node_def_pb2.NodeDef.DESCRIPTOR.fields_by_name["attr"])
    assert not index_builder.is_keyed(t3.Graph.DESCRIPTOR.fields_by_name["blobs"])  # uint64 keys
    out = io.BytesIO()
    files.write_chunked(message, out, 500)
    with ps.open(out.getvalue(), t3.Graph) as handle:
        assert handle.resolver.index.key_tables == {}
        with pytest.raises(ps.FieldPathError):
            handle.find("node", "op3")


def test_chunks_noted_while_written_give_the_same_index(monkeypatch):
    """Chunks of BACKGROUND_BYTES and more are noted on the builder's worker thread while the sink writes them: the
    index is the one noting every chunk in turn makes."""
    message = graph(nodes=120_000, constant=3 << 20)

    def written(background_bytes: int) -> bytes:
        monkeypatch.setattr(index_builder, "BACKGROUND_BYTES", background_bytes)
        out = io.BytesIO()
        files.write_chunked(message, out, 1 << 20)
        return out.getvalue()

    in_turn, meanwhile = written(1 << 60), written(1 << 20)
    assert meanwhile == in_turn
    with ps.open(meanwhile, graph_pb2.GraphDef) as handle:
        assert handle.find("node", "node_119999") == 119_999
        assert handle.get("node[5]") == message.node[5]


@pytest.mark.parametrize("queued", [1, 8])
def test_chunks_cut_from_one_serialization_queue_for_the_worker_alike(monkeypatch, queued):
    """Chunks that are views of the message's serialization queue for the worker thread (QUEUED_VIEWS deep), and
    those it has not begun when the file ends are noted on the writer's thread: the index, and every byte of the
    file, are those noting each chunk in turn gives."""
    message = graph(nodes=120_000, constant=0)
    serialized = message.SerializeToString(deterministic=True)
    noted_by = set()
    add = index_builder.IndexBuilder.add

    def slow_add(self, chunk, data, chunk_type):  # a slow worker: the writer's thread takes what it left
        if threading.current_thread() is not threading.main_thread():
            time.sleep(0.05)
        noted_by.add(threading.current_thread() is threading.main_thread())
        add(self, chunk, data, chunk_type)

    def written(background_bytes: int) -> bytes:
        monkeypatch.setattr(index_builder, "BACKGROUND_BYTES", background_bytes)
        out = io.BytesIO()
        files.write_chunked(message, out, 1 << 20, serialized=serialized)
        return out.getvalue()

    in_turn = written(1 << 60)
    monkeypatch.setattr(index_builder, "QUEUED_VIEWS", queued)
    monkeypatch.setattr(index_builder.IndexBuilder, "add", slow_add)
    noted_by.clear()
    meanwhile = written(1 << 19)
    assert meanwhile == in_turn
    assert noted_by == {True, False}  # both threads took note of chunks
    with ps.open(meanwhile, graph_pb2.GraphDef) as handle:
        assert handle.find("node", "node_119999") == 119_999


def test_only_views_of_the_lasting_bytes_queue_for_the_worker(monkeypatch):
    """A chunk that keeps memory alive (a view of bytes of its own, e.g. an element's serialization) waits for the
    chunk before it to be noted: the worker holds one such chunk at most. Views of the builder's `lasting` bytes
    (the serialization that outlives the write) queue instead."""
    monkeypatch.setattr(index_builder, "BACKGROUND_BYTES", 1 << 10)
    started = threading.Event()
    add = index_builder.IndexBuilder.add

    def slow_add(self, chunk, data, chunk_type):
        started.set()
        time.sleep(0.2)
        add(self, chunk, data, chunk_type)

    monkeypatch.setattr(index_builder.IndexBuilder, "add", slow_add)
    lasting = bytes(1 << 20)
    for lasting_given, queued in ((None, False), (lasting, True)):
        builder = index_builder.IndexBuilder(None, lasting=lasting_given)
        started.clear()
        first = builder.start(0, memoryview(lasting)[: 1 << 12], chunk_pb2.ChunkInfo.BYTES)
        started.wait()
        builder.start(1, memoryview(lasting)[1 << 12 : 1 << 13], chunk_pb2.ChunkInfo.BYTES)
        assert first is not None and first.done() is not queued
        builder.finish(chunk_pb2.ChunkMetadata(chunks=[chunk_pb2.ChunkInfo()] * 2), None)


def test_a_buffer_changed_once_written_is_indexed_as_written(tmp_path):
    """A numpy buffer given to the Writer may be reused as soon as the call returns: its chunk was noted whole."""
    weights = np.zeros(1 << 19, dtype=np.float32)  # 2 MiB: a chunk of its own, noted on the worker thread
    with ps.Writer(tmp_path / "model", graph_pb2.GraphDef, max_chunk_size=1 << 20) as writer:
        for index in range(4):
            weights[:] = index
            node = node_def_pb2.NodeDef(name=f"c{index}", op="Const")
            writer.append("node", node, buffers={"attr['value'].tensor.tensor_content": weights})
            weights[:] = -1  # the next constant's bytes, at once
    with ps.open(writer.path, graph_pb2.GraphDef) as handle:  # every record checked against its hash
        for index in range(4):
            content = handle.get(f"node[{index}].attr['value'].tensor.tensor_content")
            assert np.array_equal(np.frombuffer(content, np.float32), np.full(1 << 19, index, np.float32))
