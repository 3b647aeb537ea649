"""RecordReader: records of a Riegeli/records file, their positions, and seeking, on top of a ChunkReader (block
framing, hashes, decoding, recovery, chunk boundaries) and a Prefetcher (chunks loaded ahead in threads)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Literal, TypeVar, overload

from ..errors import RiegeliError
from . import transposed_chunk
from .chunk_reader import Chunk, ChunkReader
from .format import FILE_SIGNATURE, METADATA, PADDING, SIGNATURE
from .positions import RecordPosition, SkippedRegion
from .prefetch import Prefetcher
from .sources import open_source

if TYPE_CHECKING:
    from google.protobuf.message import Message

Recovery = Callable[[SkippedRegion], bool]
MessageT = TypeVar("MessageT", bound="Message")


class RecordReader:
    """Reads records from a path, bytes-like object, positioned reader (e.g. a remote file, which several readers
    may share), or binary file object.

    Seekable sources support seek/seek_numeric/seek_back/read_last_record, which locate chunks with block
    headers as Google's reader does; a non-seekable stream is read front to back. With `recovery`, a damaged
    chunk is skipped: the callable receives a SkippedRegion and returns True to go on."""

    def __init__(self, src: object, *, recovery: Recovery | None = None):
        self._chunks = ChunkReader(open_source(src))
        self._prefetch = Prefetcher(self._chunks)
        self._recovery = recovery
        self._chunk: Chunk | None = None  # the chunk holding the next record, if loaded
        self._index = 0  # the next record's index in self._chunk
        self._next_begin = 0  # where the chunk after self._chunk begins
        self._last_begin, self._last_index = -1, 0  # where the last record read is (none yet: -1)
        self._scratch = bytearray()  # data of chunks the reader loads itself (not ahead), reused

    # ---- context manager ------------------------------------------------------------------------------------

    def __enter__(self) -> RecordReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops the read-ahead threads and closes the source."""
        self._chunk = None
        self._prefetch.close()
        self._chunks.source.close()

    def size(self) -> int:
        """Size of the file in bytes (only for seekable sources)."""
        size = self._chunks.size()
        if size is None:
            raise RiegeliError("the size of a non-seekable stream is unknown")
        return size

    def check_file_format(self) -> None:
        """Raises RiegeliError unless the source starts with the Riegeli/records file signature."""
        self._chunks.check_file_format()

    # ---- loading chunks ------------------------------------------------------------------------------------

    def _load(self, begin: int, fresh: bool = False) -> Chunk:
        """The chunk at `begin`, its data in the scratch buffer unless `fresh` (when the current chunk's records
        may still point into the scratch buffer)."""
        if fresh:
            return self._chunks.read_chunk(begin)
        located = self._chunks.read_header(begin)
        if len(self._scratch) < located[0].data_size:
            self._scratch = bytearray(located[0].data_size)
        return self._chunks.read_chunk(begin, self._scratch, located)

    def _advance(self) -> bool:
        """Moves to the next chunk; False at the end of the file."""
        self._chunks.check_file_format()
        begin = self._next_begin
        if self._chunks.at_end(begin):
            return False
        self._prefetch.hand_back(self._chunk)
        self._chunk = None  # handed back once: a failed load below must not leave it current
        try:
            chunk = self._prefetch.take(begin) or self._load(begin)
            if begin == 0 and chunk.chunk_type != SIGNATURE:
                raise RiegeliError("not a Riegeli/records file: the first chunk is not a file signature")
        except RiegeliError as error:
            if self._recovery is None or not self._chunks.source.seekable:
                raise
            resume = self._chunks.resume_after(begin)
            if not self._recovery(SkippedRegion(begin, resume, str(error))):
                raise
            chunk = Chunk(begin, resume, PADDING)
        self._chunk, self._index, self._next_begin = chunk, 0, chunk.end
        self._prefetch.schedule(chunk.end)
        return True

    # ---- sequential reading ------------------------------------------------------------------------------------

    @overload
    def read_record(self, copy: Literal[True] = True) -> bytes | None: ...
    @overload
    def read_record(self, copy: bool) -> bytes | memoryview | None: ...

    def read_record(self, copy: bool = True) -> bytes | memoryview | None:
        """The next record, or None at the end of the file. With copy=False, a view into the reader's memory,
        valid only until the next read or seek (no copy: for callers that only look at it)."""
        while self._chunk is None or self._index >= self._chunk.num_records:
            if not self._advance():
                return None
        chunk, index = self._chunk, self._index
        bounds = chunk.bounds
        record = chunk.values[bounds[index] : bounds[index + 1]]
        self._last_begin, self._last_index = chunk.begin, index  # a RecordPosition only when asked for
        self._index = index + 1
        return bytes(record) if copy else record

    def read_message(self, message_class: type[MessageT]) -> MessageT | None:
        """The next record parsed as `message_class`, or None at the end."""
        record = self.read_record()
        if record is None:
            return None
        message = message_class()
        try:
            message.ParseFromString(record)
        except Exception as error:  # noqa: BLE001 (protobuf's DecodeError, or upb's RuntimeError)
            raise RiegeliError(f"record at {self.last_pos} is not a valid {message_class.__name__}: {error}") from None
        return message

    @overload
    def read_records(self, copy: Literal[True] = True) -> Iterator[bytes]: ...
    @overload
    def read_records(self, copy: bool) -> Iterator[bytes | memoryview]: ...

    def read_records(self, copy: bool = True) -> Iterator[bytes | memoryview]:
        """The remaining records; with copy=False, views valid only until the next one is read. Records of a
        chunk come out in a loop of their own (small records are many); whatever moves the reader between two
        of them (a seek, a read_record) is seen, and reading goes on from where the reader then is."""
        while True:
            chunk, index = self._chunk, self._index
            if chunk is None or index >= chunk.num_records:
                if not self._advance():
                    return
                continue
            values, bounds, begin, count = chunk.values, chunk.bounds, chunk.begin, chunk.num_records
            while index < count and self._index == index and self._chunk is chunk:
                record = values[bounds[index] : bounds[index + 1]]
                self._last_begin, self._last_index = begin, index
                self._index = index = index + 1
                yield bytes(record) if copy else record

    def read_messages(self, message_class: type[MessageT]) -> Iterator[MessageT]:
        """The remaining records parsed as `message_class`."""
        while (message := self.read_message(message_class)) is not None:
            yield message

    @property
    def last_pos(self) -> RecordPosition:
        """Position of the last record read."""
        if self._last_begin < 0:
            raise RiegeliError("no record has been read yet")
        return RecordPosition(self._last_begin, self._last_index)

    @property
    def pos(self) -> RecordPosition:
        """Position of the next record."""
        if self._chunk is not None and self._index < self._chunk.num_records:
            return RecordPosition(self._chunk.begin, self._index)
        return RecordPosition(self._next_begin, 0)

    # ---- seeking -------------------------------------------------------------------------------------------------

    def _require_seekable(self) -> int:
        if not self._chunks.source.seekable:
            raise RiegeliError("cannot seek in a non-seekable stream")
        self._chunks.check_file_format()
        return self.size()

    def _position_at(self, chunk_begin: int, record_index: int) -> None:
        self._chunk = None  # its records point into the scratch buffer the load overwrites
        self._prefetch.clear()
        chunk = self._load(chunk_begin)
        self._chunk, self._index, self._next_begin = chunk, min(record_index, chunk.num_records), chunk.end

    def _position_at_end(self, size: int) -> None:
        self._chunk, self._next_begin = None, size

    def seek(self, position: RecordPosition) -> None:
        """Moves to a record given as (chunk_begin, record_index)."""
        size = self._require_seekable()
        if position.chunk_begin < 0 or position.record_index < 0:
            raise RiegeliError(f"invalid position {position}: negative chunk begin or record index")
        if position.chunk_begin >= size:
            if position.chunk_begin > size:
                raise RiegeliError(f"position {position} is past the end of the file ({size} bytes)")
            self._position_at_end(size)
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
            self._position_at_end(size)
            return
        begin = self._chunks.chunk_containing(position)
        self._position_at(begin, position - begin)

    def seek_back(self) -> bool:
        """Moves to the record before the current position; False (staying put) at the first record."""
        self._require_seekable()
        if self._chunk is not None and 0 < self._index <= self._chunk.num_records:
            self._index -= 1
            return True
        begin = self._chunk.begin if self._chunk is not None else self._next_begin
        while begin > 0:
            previous = self._chunks.chunk_containing(begin - 1)
            chunk = self._load(previous, fresh=True)
            if chunk.end != begin:
                raise RiegeliError(f"corrupted file: the chunk at byte {previous} does not end at byte {begin}")
            if chunk.num_records:
                self._chunk, self._index, self._next_begin = chunk, chunk.num_records - 1, chunk.end
                return True
            begin = previous
        return False

    def read_last_record(self) -> bytes:
        """The last record of the file, found from the end with block headers (no scan of the file)."""
        self._position_at_end(self._require_seekable())
        if not self.seek_back():
            raise RiegeliError("the file holds no records")
        record = self.read_record()
        if record is None:  # seek_back found it: only a file changing underneath the reader gets here
            raise RiegeliError("the file changed while it was read")
        return record

    def read_metadata(self) -> bytes | None:
        """The file's metadata, a serialized riegeli.RecordsMetadata message (Google's writer can store one,
        transposed, in a chunk right after the file signature); None when the file has none."""
        begin = len(FILE_SIGNATURE)
        if self._require_seekable() <= begin or self._chunks.read_header(begin)[0].chunk_type != METADATA:
            return None
        header, data, _ = self._chunks.read_data(begin)
        values, _ = transposed_chunk.decode(data, 1, header.decoded_data_size, begin)
        return bytes(values)
