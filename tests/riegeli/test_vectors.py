"""Real Riegeli/records files written by Google's C++ riegeli (tests/data/riegeli_vectors/, described by its INDEX.md):
exact records and positions on read, seeking, and byte-for-byte reproduction by our writer."""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import brotli
import pytest
from highwayhash import highwayhash_64

from proto_splitter.riegeli import RecordPosition, RecordReader, RecordWriter, RiegeliError
from proto_splitter.riegeli.varint import varint

from .layout import walk

RIEGELI_KEY = b"Riegeli/records\nRiegeli/records\n"
SIGNATURE_SIZE = 64
# INDEX.md: "In each file: the 64-byte file signature ..., then one simple chunk ('r')", so every record lives in
# the chunk at byte 64 and its record_index is its rank in the file.
FIRST_CHUNK = SIGNATURE_SIZE


@dataclass(frozen=True)
class Vector:
    name: str
    records: tuple[bytes, ...]
    numeric: tuple[int, ...]


def _parse_index(text: str) -> list[Vector]:
    """Rows of INDEX.md's contents table: | file | records (hex), in order | numeric positions | (its other table,
    the files' origin, has file names in its first column too)."""
    vectors = []
    contents = text.split("| file | records (hex), in order | numeric positions |", 1)[1]
    for line in contents.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.fullmatch(r"[\w.\-]+\.riegeli[\w.\-]*", cells[0]):
            continue
        records = tuple(bytes.fromhex(item.strip()) for item in cells[1].split(","))
        numeric = tuple(int(item) for item in cells[2].split(","))
        assert len(records) == len(numeric), f"INDEX.md row for {cells[0]} is inconsistent"
        vectors.append(Vector(cells[0], records, numeric))
    return vectors


NOT_VECTORS = {"INDEX.md", "LICENSE-W3C.md"}  # the folder's notes: where the files came from, their licence


@pytest.fixture(scope="module")
def vectors(riegeli_vectors: Path) -> list[tuple[Path, Vector]]:
    parsed = _parse_index((riegeli_vectors / "INDEX.md").read_text())
    return [(riegeli_vectors / vector.name, vector) for vector in parsed]


# The facts of INDEX.md, encoded here too: if the parser silently skipped rows, the tests would prove nothing.
EXPECTED_NAMES = {
    "test_freq_data.riegeli",
    "test_freq_data.riegeli-00000-of-00003",
    "test_freq_data.riegeli-00001-of-00003",
    "test_freq_data.riegeli-00002-of-00003",
}


def test_index_covers_every_vector_file(riegeli_vectors, vectors):
    on_disk = {path.name for path in riegeli_vectors.iterdir() if path.name not in NOT_VECTORS}
    assert {vector.name for _, vector in vectors} == on_disk
    assert on_disk >= EXPECTED_NAMES
    whole = {vector.name: vector for _, vector in vectors}["test_freq_data.riegeli"]
    assert whole.records == tuple(
        bytes.fromhex(h) for h in ("0a0241421064", "0a014310c801", "0a0244451032", "0a024444104b")
    )
    assert whole.numeric == (64, 65, 66, 67)
    # The shards hold the whole file's records, in order.
    shards = [{v.name: v for _, v in vectors}[f"test_freq_data.riegeli-0000{i}-of-00003"] for i in range(3)]
    assert sum((shard.records for shard in shards), ()) == whole.records


def test_sequential_read_records_and_positions(vectors):
    for path, vector in vectors:
        with RecordReader(path) as reader:
            reader.check_file_format()
            got, positions = [], []
            for record in reader.read_records():
                got.append(record)
                positions.append(reader.last_pos)
            assert reader.read_record() is None  # stays at the end
        assert tuple(got) == vector.records, path.name
        assert tuple(p.numeric for p in positions) == vector.numeric, path.name
        assert [p.chunk_begin for p in positions] == [FIRST_CHUNK] * len(got), path.name
        assert [p.record_index for p in positions] == list(range(len(got))), path.name
        assert [p.chunk_begin + p.record_index for p in positions] == list(vector.numeric)


class _Stream:
    """A non-seekable binary stream (only read)."""

    def __init__(self, data: bytes):
        self._buffer = io.BytesIO(data)

    def read(self, count=-1):
        return self._buffer.read(count)


@pytest.mark.parametrize("kind", ["bytes", "file object", "stream"])
def test_every_source_kind_reads_the_vectors(vectors, kind):
    for path, vector in vectors:
        data = path.read_bytes()
        src = {"bytes": data, "file object": io.BytesIO(data), "stream": _Stream(data)}[kind]
        with RecordReader(src) as reader:
            got = list(reader.read_records())
            last = reader.last_pos
        assert tuple(got) == vector.records
        assert last == RecordPosition(FIRST_CHUNK, len(vector.records) - 1)


def test_seek_numeric_and_seek_land_on_each_record(vectors):
    for path, vector in vectors:
        with RecordReader(path) as reader:
            # Backwards order too, so that every seek really moves.
            for index in list(range(len(vector.records))) + list(reversed(range(len(vector.records)))):
                reader.seek_numeric(vector.numeric[index])
                assert reader.pos == RecordPosition(FIRST_CHUNK, index)
                assert reader.read_record() == vector.records[index]
                assert reader.last_pos.numeric == vector.numeric[index]
                reader.seek(RecordPosition(FIRST_CHUNK, index))
                assert reader.read_record() == vector.records[index]
                assert reader.last_pos == RecordPosition(FIRST_CHUNK, index)
            # After the last record: the end of the file.
            reader.seek_numeric(vector.numeric[-1] + 1)
            assert reader.read_record() is None


def test_read_last_record_and_seek_back(vectors):
    for path, vector in vectors:
        with RecordReader(path) as reader:
            assert reader.read_last_record() == vector.records[-1]
            assert reader.last_pos.numeric == vector.numeric[-1]
            assert reader.read_record() is None
            # Walk backwards from the end through every record.
            reader.seek_numeric(reader.size())
            backwards = []
            while reader.seek_back():
                backwards.append((reader.pos.numeric, reader.read_record()))
                assert reader.seek_back()
            assert backwards == list(zip(reversed(vector.numeric), reversed(vector.records), strict=False))


def test_file_format_size_and_metadata(vectors):
    for path, _vector in vectors:
        with RecordReader(path) as reader:
            reader.check_file_format()
            assert reader.size() == path.stat().st_size
            assert reader.read_metadata() is None  # these files carry no metadata chunk


def test_layout_is_signature_then_one_brotli_simple_chunk(vectors):
    """INDEX.md's description, checked against the bytes with the spec walker (not with the codec)."""
    for path, vector in vectors:
        data = path.read_bytes()
        chunks = walk(data)
        assert [(c.begin, c.chunk_type) for c in chunks] == [(0, "s"), (64, "r")]
        assert chunks[1].end == len(data)
        assert chunks[1].num_records == len(vector.records)
        assert data[chunks[1].data_bytes[0]] == ord("b")  # brotli


# ---- our writer reproduces Google's bytes ------------------------------------------------------------------------


def _hash(data: bytes) -> bytes:
    return highwayhash_64(RIEGELI_KEY, bytes(data))


def _read_varint(data: bytes, offset: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, offset
        shift += 7


def _spec_file(records, compression: bytes, compress) -> bytes:
    """A one-chunk Riegeli/records file built from the format specification (hashes from highwayhash-cffi),
    for records small enough that the file stays in the first block."""
    block_body = struct.pack("<QQ", 0, 64)
    signature_body = struct.pack("<QQQQ", 0, struct.unpack("<Q", _hash(b""))[0], ord("s"), 0)
    signature = _hash(block_body) + block_body + _hash(signature_body) + signature_body
    sizes = b"".join(varint(len(r)) for r in records)
    values = b"".join(records)
    packed_sizes, packed_values = compress(sizes), compress(values)
    data = compression + varint(len(packed_sizes)) + packed_sizes + packed_values
    header_body = struct.pack(
        "<QQQQ", len(data), struct.unpack("<Q", _hash(data))[0], ord("r") | len(records) << 8, len(values)
    )
    out = signature + _hash(header_body) + header_body + data
    # Chunk end is max(header + data, begin + num_records): no padding for these chunks.
    assert len(out) < 65536 and len(out) >= 64 + len(records)
    return out


def _brotli_payloads(data: bytes) -> tuple[bytes, bytes]:
    """The two size-prefixed brotli streams (sizes, values) of the vector's simple chunk."""
    chunk = walk(data)[1]
    body = bytes(data[i] for i in chunk.data_bytes)
    assert body[0] == ord("b")
    sizes_length, start = _read_varint(body, 1)
    return body[start : start + sizes_length], body[start + sizes_length :]


@pytest.mark.parametrize("options", ["brotli:6", "brotli", "brotli:6,window_log:22"])
def test_writer_reproduces_google_bytes(vectors, options):
    """INDEX.md: written with riegeli::RecordWriter's default options, i.e. brotli level 6, window_log 22
    (Google's defaults; our own default is uncompressed, hence the explicit options)."""
    for path, vector in vectors:
        expected = path.read_bytes()
        out = io.BytesIO()
        with RecordWriter(out, options=options) as writer:
            positions = []
            for record in vector.records:
                writer.write_record(record)
                positions.append(writer.last_pos.numeric)
        ours = out.getvalue()
        assert tuple(positions) == vector.numeric
        assert ours[:SIGNATURE_SIZE] == expected[:SIGNATURE_SIZE]  # the file signature never depends on brotli
        with RecordReader(ours) as reader:
            assert tuple(reader.read_records()) == vector.records

        # Brotli's output may change between library versions. Exact bytes are required whenever the installed
        # brotli compresses this chunk's payloads exactly as Google's writer did (true for brotli 1.1/1.2: these
        # tiny payloads come out identical); otherwise only the round trip above is asserted.
        sizes_stream, values_stream = _brotli_payloads(expected)
        sizes = b"".join(varint(len(r)) for r in vector.records)
        values = b"".join(vector.records)
        same_brotli = sizes_stream == varint(len(sizes)) + brotli.compress(
            sizes, quality=6, lgwin=22
        ) and values_stream == varint(len(values)) + brotli.compress(values, quality=6, lgwin=22)
        if same_brotli:
            assert ours == expected, path.name
        # Whatever brotli does, the decompressed payloads are the records.
        assert brotli.decompress(sizes_stream[len(varint(len(sizes))) :]) == sizes
        assert brotli.decompress(values_stream[len(varint(len(values))) :]) == values


def test_spec_built_file_equals_the_vector(vectors):
    """The spec builder above (independent of the codec) reproduces Google's file: it is a valid oracle."""
    for path, vector in vectors:
        expected = path.read_bytes()
        sizes_stream, values_stream = _brotli_payloads(expected)
        streams = iter([sizes_stream, values_stream])
        assert _spec_file(vector.records, b"b", lambda _payload: next(streams)) == expected


def test_uncompressed_writer_output_equals_the_spec(vectors):
    """Same records, uncompressed: no compressor is involved, so the bytes are fully determined by the format."""
    for _path, vector in vectors:
        out = io.BytesIO()
        with RecordWriter(out, options="uncompressed") as writer:
            writer.write_records(vector.records)
        # An uncompressed simple chunk: type 0, varint size of the sizes, sizes, then the values.
        assert out.getvalue() == _spec_file(vector.records, b"\x00", lambda payload: payload)
        with RecordReader(out.getvalue()) as reader:
            assert tuple(reader.read_records()) == vector.records


def test_damaged_vector_signature_is_rejected(vectors):
    """A vector with its signature damaged is rejected (the check is real, not a length test)."""
    path, _vector = vectors[0]
    data = bytearray(path.read_bytes())
    data[30] ^= 0x01
    with RecordReader(bytes(data)) as reader:
        with pytest.raises(RiegeliError):
            reader.check_file_format()
