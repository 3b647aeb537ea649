"""ChunkReader: the chunks of a Riegeli/records file, as Google's riegeli reads them below its record reader:
block headers interleaved with chunk content, chunk headers, data hashes, decoding by chunk type, the chunk
boundary after damage (recovery), and the chunk holding a byte position (seeking by block headers)."""

from __future__ import annotations

from ..errors import RiegeliError
from . import simple_chunk, transposed_chunk
from .format import (
    BLOCK_HEADER_SIZE,
    BLOCK_SIZE,
    CHUNK_HEADER_SIZE,
    FILE_SIGNATURE,
    METADATA,
    PADDING,
    SIGNATURE,
    SIMPLE,
    TRANSPOSED,
    ChunkHeader,
    block_headers_between,
    chunk_end,
    decode_block_header,
    round_up_to_possible_chunk_boundary,
)
from .highwayhash import highway_hash
from .sources import Records, Source, StreamSource

NO_RECORDS = (memoryview(b""), [0])


class Chunk:
    """A decoded chunk: where it begins and ends, its type, its records (record i is values[bounds[i]:bounds[i +
    1]], sliced when read: a chunk may hold many small records), and the pooled buffer holding its data when a
    Prefetcher loaded it (handed back for reuse once the reader is past it)."""

    __slots__ = ("begin", "bounds", "chunk_type", "end", "num_records", "spare", "values")

    def __init__(
        self, begin: int, end: int, chunk_type: int, records: Records = NO_RECORDS, spare: bytearray | None = None
    ):
        self.begin, self.end, self.chunk_type, self.spare = begin, end, chunk_type, spare
        self.values, self.bounds = records
        self.num_records = len(self.bounds) - 1


Located = tuple[ChunkHeader, int, int]
"""A chunk header, the position of the chunk's data, and the chunk's end."""


class ChunkReader:
    """Reads, verifies and decodes the chunks of a source. Stateless apart from the source and whether its file
    signature was checked, so a Prefetcher's threads may call it concurrently (for sources that allow it)."""

    def __init__(self, source: Source):
        self.source = source
        self._checked = False

    def size(self) -> int | None:
        """Size of the source in bytes; None for a non-seekable stream."""
        return self.source.size()

    def at_end(self, begin: int) -> bool:
        """Whether no chunk begins at `begin`: the source ends there."""
        size = self.source.size()
        if size is not None:
            return begin >= size
        return isinstance(self.source, StreamSource) and self.source.at_end(begin)

    def check_file_format(self) -> None:
        """Raises RiegeliError unless the source starts with the Riegeli/records file signature."""
        if self._checked:
            return
        if self.source.size() == 0:
            self._checked = True
            return
        source = self.source
        count = len(FILE_SIGNATURE)
        head = source.peek(count) if isinstance(source, StreamSource) else bytes(source.read(0, count))
        if head and head != FILE_SIGNATURE:
            raise RiegeliError("not a Riegeli/records file: the 64-byte file signature is missing or damaged")
        self._checked = True

    # ---- chunk content, skipping block headers ----------------------------------------------------------------

    def _read_content(
        self, position: int, count: int, chunk_begin: int, end: int | None, into: bytearray | None = None
    ) -> tuple[memoryview, int]:
        """Reads `count` bytes of chunk content from `position`, skipping (and checking) block headers, into
        `into` (at least `count` bytes) or fresh memory; returns them and the position after them. One scatter
        read takes the content and the block headers between its pieces (one call per chunk, not per block)."""
        view, filled = memoryview(bytearray(count) if into is None else into)[:count], 0
        pieces: list[tuple[int, memoryview, bool]] = []  # (position, buffer, is a block header)
        start = position
        while filled < count:
            if position % BLOCK_SIZE == 0:
                pieces.append((position, memoryview(bytearray(BLOCK_HEADER_SIZE)), True))
                position += BLOCK_HEADER_SIZE
            take = min(count - filled, BLOCK_SIZE - position % BLOCK_SIZE)
            pieces.append((position, view[filled : filled + take], False))
            filled += take
            position += take
        got = self.source.readv(start, [buffer for _, buffer, _ in pieces]) if pieces else 0
        for piece_position, buffer, is_header in pieces:  # in file order: the first problem is the one reported
            present = max(0, min(len(buffer), start + got - piece_position))
            if is_header:
                if present != BLOCK_HEADER_SIZE:
                    raise RiegeliError(f"truncated file: block header at byte {piece_position} is incomplete")
                self._check_block_header(piece_position, bytes(buffer), chunk_begin, end)
            elif present != len(buffer):
                raise RiegeliError(
                    f"truncated file: expected {len(buffer)} bytes at byte {piece_position}, found {present}"
                )
        return view, position

    @staticmethod
    def _check_block_header(position: int, raw: bytes, chunk_begin: int, end: int | None) -> None:
        previous_chunk, next_chunk = decode_block_header(raw, position)
        if previous_chunk != position - chunk_begin or (end is not None and next_chunk != end - position):
            raise RiegeliError(
                f"corrupted block header at byte {position}: it does not match the chunk at byte {chunk_begin}"
            )

    def read_header(self, begin: int) -> Located:
        """The chunk header at `begin`, the position after it, and the chunk's end."""
        raw, after = self._read_content(begin, CHUNK_HEADER_SIZE, begin, None)
        header = ChunkHeader.decode(bytes(raw), begin)
        end = chunk_end(begin, header.data_size, header.num_records)
        size = self.source.size()
        if size is not None and end > size:
            raise RiegeliError(
                f"truncated file: the chunk at byte {begin} ends at byte {end}, but the file has {size} bytes"
            )
        return header, after, end

    def read_chunk(self, begin: int, into: bytearray | None = None, located: Located | None = None) -> Chunk:
        """Reads, verifies and decodes the chunk at `begin` (whose header may be given, already read), its data
        into `into` (at least data_size bytes) or fresh memory."""
        header, data, end = self.read_data(begin, into, located)
        return Chunk(begin, end, header.chunk_type, decode_records(header, data, begin))

    def read_data(
        self, begin: int, into: bytearray | None = None, located: Located | None = None
    ) -> tuple[ChunkHeader, memoryview, int]:
        """The header, the verified data and the end of the chunk at `begin` (see read_chunk)."""
        header, after, end = self.read_header(begin) if located is None else located
        data, position = self._read_content(after, header.data_size, begin, end, into)
        if highway_hash(data) != header.data_hash:
            raise RiegeliError(f"corrupted chunk at byte {begin}: data hash mismatch")
        if not self.source.seekable and position < end:  # a stream moves on past the chunk's padding
            padding = end - position - BLOCK_HEADER_SIZE * block_headers_between(position, end)
            self._read_content(position, padding, begin, end)
        return header, data, end

    # ---- finding chunk boundaries -------------------------------------------------------------------------------

    def resume_after(self, begin: int) -> int:
        """The first chunk boundary after a damaged chunk at `begin`: its end when its header is intact (only
        its data is damaged), else found with block headers."""
        size = self.source.size()
        if size is None:
            raise RiegeliError("cannot skip damage in a non-seekable stream")
        try:
            _, _, end = self.read_header(begin)
            return end
        except RiegeliError:
            pass
        boundary = begin - begin % BLOCK_SIZE + BLOCK_SIZE
        while boundary < size:
            raw = bytes(self.source.read(boundary, BLOCK_HEADER_SIZE))
            try:
                previous_chunk, next_chunk = decode_block_header(raw, boundary)
            except RiegeliError:
                boundary += BLOCK_SIZE
                continue
            chunk_begin = boundary - previous_chunk
            return chunk_begin if chunk_begin > begin else boundary + next_chunk
        return size

    def chunk_containing(self, position: int) -> int:
        """Beginning of the chunk holding byte `position`: a chunk beginning right there (its header hash
        verifies), else the block header before it, then a scan of the chunk headers in that block, from the chunk
        the block boundary interrupts or, when `position` lies past it, from that chunk's end (the block header
        says where: no need to read its header, which may be far back in a remote file)."""
        if round_up_to_possible_chunk_boundary(position) == position:
            try:
                self.read_header(position)
                return position
            except RiegeliError:
                pass
        block = position - position % BLOCK_SIZE
        if block == 0:
            begin = 0
        else:
            raw = bytes(self.source.read(block, BLOCK_HEADER_SIZE))
            if len(raw) != BLOCK_HEADER_SIZE:
                raise RiegeliError(f"truncated file: block header at byte {block} is incomplete")
            previous_chunk, next_chunk = decode_block_header(raw, block)
            begin = block - previous_chunk
            if previous_chunk > block:
                raise RiegeliError(f"corrupted block header at byte {block}: it points before the file start")
            if 0 < next_chunk <= position - block:
                begin = block + next_chunk
        while True:
            _, _, end = self.read_header(begin)
            if position < end:
                return begin
            begin = end


def decode_records(header: ChunkHeader, data: memoryview, begin: int) -> Records:
    """The records of a chunk whose data hash verified, by chunk type; `begin` names the chunk in errors."""
    kind = header.chunk_type
    if kind == SIMPLE:
        return simple_chunk.decode(data, header.num_records, header.decoded_data_size, begin)
    if kind in (SIGNATURE, PADDING, METADATA):
        if kind == SIGNATURE and begin == 0 and (header.data_size or header.num_records):
            raise RiegeliError("corrupted file signature at byte 0")
        return NO_RECORDS
    if kind == TRANSPOSED:
        return transposed_chunk.decode(data, header.num_records, header.decoded_data_size, begin)
    raise RiegeliError(f"unknown chunk type {kind:#04x} at byte {begin}")
