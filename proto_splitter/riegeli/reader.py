"""RecordReader: reads records from a Riegeli/records file, verifying every hash, seeking with block headers."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from ..errors import RiegeliError
from . import simple_chunk
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
    chunk_end,
    decode_block_header,
    round_up_to_possible_chunk_boundary,
)
from .format import block_headers_between as _headers
from .highwayhash import highway_hash
from .positions import RecordPosition, SkippedRegion
from .sources import open_source

Recovery = Callable[[SkippedRegion], bool]
READ_AHEAD_LIMIT = 64 << 20  # larger chunks are not loaded ahead: memory stays near one chunk
READ_AHEAD_CHUNKS = 2  # chunks loaded ahead at once, each in its own thread: hashing uses two cores


class _Chunk:
    """A decoded chunk: where it begins and ends, its type, its records, and the spare buffer holding its data
    when it was loaded ahead (handed back for reuse once the reader moves past the chunk)."""

    __slots__ = ("begin", "chunk_type", "end", "records", "spare")

    def __init__(self, begin: int, end: int, chunk_type: int, records: list, spare: bytearray | None = None):
        self.begin, self.end, self.chunk_type, self.records, self.spare = begin, end, chunk_type, records, spare


class _Pending:
    """A chunk being loaded ahead: where it begins and ends, and the future giving the _Chunk (or None if too
    big)."""

    __slots__ = ("begin", "end", "future")

    def __init__(self, begin: int, end: int, future: Future):
        self.begin, self.end, self.future = begin, end, future

    def result(self) -> _Chunk | None:
        return self.future.result()


class RecordReader:
    """Reads records from a path, bytes-like object, positioned reader (e.g. a remote file, which several readers
    may share), or binary file object.

    Seekable sources support seek/seek_numeric/seek_back/read_last_record, which locate chunks with block
    headers as Google's reader does; a non-seekable stream is read front to back. With `recovery`, a damaged
    chunk is skipped: the callable receives a SkippedRegion and returns True to go on."""

    def __init__(self, src, *, recovery: Recovery | None = None):
        self._source = open_source(src)
        self._recovery = recovery
        self._chunk: _Chunk | None = None
        self._index = 0
        self._next_begin = 0
        self._last_pos: RecordPosition | None = None
        self._checked = False
        self._scratch = bytearray()
        self._spares: list[bytearray] = []
        self._pending: deque[_Pending] = deque()
        self._executor: ThreadPoolExecutor | None = None

    # ---- context manager ------------------------------------------------------------------------------------

    def __enter__(self) -> RecordReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._chunk = None
        self._pending.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # the thread may be reading from the source
            self._executor = None
        self._source.close()

    # ---- low level: bytes of a chunk, skipping block headers ---------------------------------------------

    def size(self) -> int:
        """Size of the file in bytes (only for seekable sources)."""
        size = self._source.size()
        if size is None:
            raise RiegeliError("the size of a non-seekable stream is unknown")
        return size

    def _read_content(
        self, position: int, count: int, chunk_begin: int, end: int | None, into: bytearray | None = None
    ) -> tuple[memoryview, int]:
        """Reads `count` bytes of chunk content from `position`, skipping (and checking) block headers, into
        `into` (at least `count` bytes) or fresh memory."""
        view, filled = memoryview(bytearray(count) if into is None else into)[:count], 0
        while filled < count:
            if position % BLOCK_SIZE == 0:
                self._check_block_header(position, chunk_begin, end)
                position += BLOCK_HEADER_SIZE
            take = min(count - filled, BLOCK_SIZE - position % BLOCK_SIZE)
            got = self._source.read_into(position, view[filled : filled + take])
            if got != take:
                raise RiegeliError(f"truncated file: expected {take} bytes at byte {position}, found {got}")
            filled += take
            position += take
        return view, position

    def _check_block_header(self, position: int, chunk_begin: int, end: int | None) -> None:
        raw = self._source.read(position, BLOCK_HEADER_SIZE)
        if len(raw) != BLOCK_HEADER_SIZE:
            raise RiegeliError(f"truncated file: block header at byte {position} is incomplete")
        previous_chunk, next_chunk = decode_block_header(bytes(raw), position)
        if previous_chunk != position - chunk_begin or (end is not None and next_chunk != end - position):
            raise RiegeliError(
                f"corrupted block header at byte {position}: it does not match the chunk at byte {chunk_begin}"
            )

    def _read_header(self, begin: int) -> tuple[ChunkHeader, int, int]:
        """The chunk header at `begin`, the position after it, and the chunk's end."""
        raw, after = self._read_content(begin, CHUNK_HEADER_SIZE, begin, None)
        header = ChunkHeader.decode(bytes(raw), begin)
        end = chunk_end(begin, header.data_size, header.num_records)
        size = self._source.size()
        if size is not None and end > size:
            raise RiegeliError(
                f"truncated file: the chunk at byte {begin} ends at byte {end}, but the file has {size} bytes"
            )
        return header, after, end

    def _load(self, begin: int, ahead: bool = False, fresh: bool = False) -> _Chunk | None:
        """Reads, verifies and decodes the chunk at `begin`, into the scratch buffer unless `fresh` (the current
        chunk's records may still point into it). Ahead (in a read-ahead thread), into a spare buffer, and only
        a chunk of at most READ_AHEAD_LIMIT bytes (None otherwise: the reader loads it when due). Memory is
        reused because, chunk after chunk, first touches of fresh memory cost more than the read itself."""
        header, after, end = self._read_header(begin)
        if ahead and header.data_size > READ_AHEAD_LIMIT:
            return None
        spare = into = None
        if ahead:
            spare = into = self._take_spare(header.data_size)
        elif not fresh:
            if len(self._scratch) < header.data_size:
                self._scratch = bytearray(header.data_size)
            into = self._scratch
        data, position = self._read_content(after, header.data_size, begin, end, into)
        if highway_hash(data) != header.data_hash:
            raise RiegeliError(f"corrupted chunk at byte {begin}: data hash mismatch")
        if not self._source.seekable and position < end:
            self._read_content(position, end - position - BLOCK_HEADER_SIZE * _headers(position, end), begin, end)
        kind = header.chunk_type
        if kind == SIMPLE:
            records = simple_chunk.decode(data, header.num_records, header.decoded_data_size, begin)
        elif kind in (SIGNATURE, PADDING, METADATA):
            if kind == SIGNATURE and begin == 0 and (header.data_size or header.num_records):
                raise RiegeliError("corrupted file signature at byte 0")
            records = []
        elif kind == TRANSPOSED:
            raise RiegeliError(f"transposed chunks are not supported (chunk at byte {begin})")
        else:
            raise RiegeliError(f"unknown chunk type {kind:#04x} at byte {begin}")
        return _Chunk(begin, end, kind, records, spare)

    def _take_spare(self, size: int) -> bytearray:
        """A spare buffer of at least `size` bytes: one handed back if large enough, else a new one."""
        while self._spares:
            spare = self._spares.pop()  # list.pop and append are atomic: the read-ahead threads share the list
            if len(spare) >= size:
                return spare
        return bytearray(size)

    def _hand_back(self, chunk: _Chunk | None) -> None:
        """The reader is past `chunk`: its spare buffer may be filled again (the records handed out were copies,
        or views documented as valid only until the next read)."""
        if chunk is not None and chunk.spare is not None and len(self._spares) <= READ_AHEAD_CHUNKS:
            self._spares.append(chunk.spare)

    def check_file_format(self) -> None:
        """Raises RiegeliError unless the source starts with the Riegeli/records file signature."""
        if self._checked:
            return
        size = self._source.size()
        if size == 0:
            self._checked = True
            return
        head = (
            bytes(self._source.read(0, len(FILE_SIGNATURE)))
            if self._source.seekable
            else self._source.peek(len(FILE_SIGNATURE))
        )
        if head and head != FILE_SIGNATURE:
            raise RiegeliError("not a Riegeli/records file: the 64-byte file signature is missing or damaged")
        self._checked = True

    # ---- sequential reading ------------------------------------------------------------------------------------

    def _advance(self) -> bool:
        """Moves to the next chunk; False at the end of the file."""
        begin = self._next_begin
        size = self._source.size()
        if (size is not None and begin >= size) or (size is None and self._source.at_end(begin)):
            return False
        pending = self._pending.popleft() if self._pending and self._pending[0].begin == begin else None
        if pending is None:
            self._pending.clear()
        self._hand_back(self._chunk)
        self._chunk = None  # handed back once: a failed load below must not leave it current
        try:
            self._chunk = pending.result() if pending is not None else None
            if self._chunk is None:
                self._chunk = self._load(begin)
            if begin == 0 and self._chunk.chunk_type != SIGNATURE:
                raise RiegeliError("not a Riegeli/records file: the first chunk is not a file signature")
        except RiegeliError as error:
            if self._recovery is None or not self._source.seekable:
                raise
            resume = self._resume_after(begin)
            if not self._recovery(SkippedRegion(begin, resume, str(error))):
                raise
            self._chunk = _Chunk(begin, resume, PADDING, [])
        self._index = 0
        self._next_begin = self._chunk.end
        self._read_ahead()
        return True

    def _read_ahead(self) -> None:
        """While the records of this chunk are consumed, loads and verifies the next READ_AHEAD_CHUNKS chunks
        in threads (only for sources that take concurrent positioned reads, and only when reading front to
        back). Their headers are read here, to know where each next one begins."""
        if not getattr(self._source, "concurrent_reads", False):
            return
        size = self._source.size()
        begin = self._pending[-1].end if self._pending else self._next_begin
        while len(self._pending) < READ_AHEAD_CHUNKS and begin < size:
            try:
                _, _, end = self._read_header(begin)
            except RiegeliError:
                return  # the reader meets the damage when it gets there
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=READ_AHEAD_CHUNKS, thread_name_prefix="riegeli-read-ahead"
                )
            self._pending.append(_Pending(begin, end, self._executor.submit(self._load, begin, True)))
            begin = end

    def _resume_after(self, begin: int) -> int:
        """The first chunk boundary after a damaged chunk at `begin`: its end when its header is intact (only
        its data is damaged), else found with block headers."""
        size = self.size()
        try:
            _, _, end = self._read_header(begin)
            return end
        except RiegeliError:
            pass
        boundary = begin - begin % BLOCK_SIZE + BLOCK_SIZE
        while boundary < size:
            raw = bytes(self._source.read(boundary, BLOCK_HEADER_SIZE))
            try:
                previous_chunk, next_chunk = decode_block_header(raw, boundary)
            except RiegeliError:
                boundary += BLOCK_SIZE
                continue
            chunk_begin = boundary - previous_chunk
            return chunk_begin if chunk_begin > begin else boundary + next_chunk
        return size

    def read_record(self, copy: bool = True) -> bytes | memoryview | None:
        """The next record, or None at the end of the file. With copy=False, a view into the reader's memory,
        valid only until the next read or seek (no copy: for callers that only look at it)."""
        self.check_file_format()
        while self._chunk is None or self._index >= len(self._chunk.records):
            if not self._advance():
                return None
        record = self._chunk.records[self._index]
        self._last_pos = RecordPosition(self._chunk.begin, self._index)
        self._index += 1
        return bytes(record) if copy else record

    def read_message(self, message_class):
        """The next record parsed as `message_class`, or None at the end."""
        record = self.read_record()
        if record is None:
            return None
        message = message_class()
        try:
            message.ParseFromString(record)
        except Exception as error:  # noqa: BLE001 (protobuf's DecodeError, or upb's RuntimeError)
            raise RiegeliError(f"record at {self._last_pos} is not a valid {message_class.__name__}: {error}") from None
        return message

    def read_records(self, copy: bool = True) -> Iterator[bytes | memoryview]:
        """The remaining records; with copy=False, views valid only until the next one is read."""
        while (record := self.read_record(copy)) is not None:
            yield record

    def read_messages(self, message_class) -> Iterator:
        while (message := self.read_message(message_class)) is not None:
            yield message

    @property
    def last_pos(self) -> RecordPosition:
        """Position of the last record read."""
        if self._last_pos is None:
            raise RiegeliError("no record has been read yet")
        return self._last_pos

    @property
    def pos(self) -> RecordPosition:
        """Position of the next record."""
        if self._chunk is not None and self._index < len(self._chunk.records):
            return RecordPosition(self._chunk.begin, self._index)
        return RecordPosition(self._next_begin, 0)

    # ---- seeking -------------------------------------------------------------------------------------------------

    def _require_seekable(self) -> int:
        if not self._source.seekable:
            raise RiegeliError("cannot seek in a non-seekable stream")
        self.check_file_format()
        return self.size()

    def _chunk_containing(self, position: int) -> int:
        """Beginning of the chunk holding byte `position`: a chunk beginning right there (its header hash
        verifies), else the block header before it, then a scan of the chunk headers in that block, from the
        chunk the block boundary interrupts or, when `position` lies past it, from that chunk's end (the block
        header says where: no need to read its header, which may be far back in a remote file)."""
        if round_up_to_possible_chunk_boundary(position) == position:
            try:
                self._read_header(position)
                return position
            except RiegeliError:
                pass
        block = position - position % BLOCK_SIZE
        if block == 0:
            begin = 0
        else:
            raw = bytes(self._source.read(block, BLOCK_HEADER_SIZE))
            if len(raw) != BLOCK_HEADER_SIZE:
                raise RiegeliError(f"truncated file: block header at byte {block} is incomplete")
            previous_chunk, next_chunk = decode_block_header(raw, block)
            begin = block - previous_chunk
            if previous_chunk > block:
                raise RiegeliError(f"corrupted block header at byte {block}: it points before the file start")
            if 0 < next_chunk <= position - block:
                begin = block + next_chunk
        while True:
            _, _, end = self._read_header(begin)
            if position < end:
                return begin
            begin = end

    def _position_at(self, chunk_begin: int, record_index: int) -> None:
        self._chunk = None  # its records point into the scratch buffer the load overwrites
        self._pending.clear()
        self._chunk = self._load(chunk_begin)
        self._index = min(record_index, len(self._chunk.records))
        self._next_begin = self._chunk.end

    def seek(self, position: RecordPosition) -> None:
        """Moves to a record given as (chunk_begin, record_index)."""
        size = self._require_seekable()
        if position.chunk_begin < 0 or position.record_index < 0:
            raise RiegeliError(f"invalid position {position}: negative chunk begin or record index")
        if position.chunk_begin >= size:
            if position.chunk_begin > size:
                raise RiegeliError(f"position {position} is past the end of the file ({size} bytes)")
            self._chunk, self._next_begin = None, size
            return
        self._position_at(position.chunk_begin, position.record_index)

    def seek_numeric(self, position: int) -> None:
        """Moves to the record at a numeric position (chunk_begin + record_index), as Google's Seek does."""
        size = self._require_seekable()
        if position < 0:
            raise RiegeliError(f"negative position {position}")
        if position >= size:
            if position > size:
                raise RiegeliError(f"position {position} is past the end of the file ({size} bytes)")
            self._chunk, self._next_begin = None, size
            return
        begin = self._chunk_containing(position)
        self._position_at(begin, position - begin)

    def seek_back(self) -> bool:
        """Moves to the record before the current position; False (staying put) at the first record."""
        self._require_seekable()
        if self._chunk is not None and 0 < self._index <= len(self._chunk.records):
            self._index -= 1
            return True
        begin = self._chunk.begin if self._chunk is not None else self._next_begin
        while begin > 0:
            previous = self._chunk_containing(begin - 1)
            chunk = self._load(previous, fresh=True)
            if chunk.end != begin:
                raise RiegeliError(f"corrupted file: the chunk at byte {previous} does not end at byte {begin}")
            if chunk.records:
                self._chunk, self._index, self._next_begin = chunk, len(chunk.records) - 1, chunk.end
                return True
            begin = previous
        return False

    def read_last_record(self) -> bytes:
        """The last record of the file, found from the end with block headers (no scan of the file)."""
        size = self._require_seekable()
        self._chunk, self._next_begin = None, size
        if not self.seek_back():
            raise RiegeliError("the file holds no records")
        return self.read_record()

    def read_metadata(self):
        """File metadata: None when absent; transposed-encoded metadata (Google's) is not supported."""
        self._require_seekable()
        size = self.size()
        if size <= len(FILE_SIGNATURE):
            return
        header, _, _ = self._read_header(len(FILE_SIGNATURE))
        if header.chunk_type == METADATA:
            raise RiegeliError(
                f"file metadata at byte {len(FILE_SIGNATURE)} is transposed-encoded, which this codec does not decode"
            )
        return
