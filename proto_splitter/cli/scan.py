"""Reading every record of a Riegeli file with the codec's recovery mode: which records survive (position
and size), which byte ranges are damaged and why. Used by verify and by verify --recover."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from .. import riegeli
from ..errors import ProtoSplitterError, RiegeliError
from ..riegeli.format import FILE_SIGNATURE
from . import common

SIGNATURE_SIZE = len(FILE_SIGNATURE)


class _RepairedSignature(io.RawIOBase):
    """A read-only view of a file whose 64-byte Riegeli signature is damaged, showing an intact one, so the
    reader can go on to the chunks behind it (the damage itself is reported separately)."""

    def __init__(self, path: str):
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 (closed by close())
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._position = self._file.seek(offset, whence)
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        self._file.seek(self._position)
        count = self._file.readinto(view)
        if self._position < SIGNATURE_SIZE and count:
            end = min(SIGNATURE_SIZE, self._position + count)
            view[: end - self._position] = FILE_SIGNATURE[self._position : end]
        self._position += count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


def open_reader(path: str, recovery=None) -> riegeli.RecordReader:
    """A reader over `path`, working around a damaged file signature."""
    if common.signature_intact(path) or os.path.getsize(path) < SIGNATURE_SIZE:
        return riegeli.RecordReader(path, recovery=recovery)
    return riegeli.RecordReader(_RepairedSignature(path), recovery=recovery)


def signature_damage(path: str) -> riegeli.SkippedRegion | None:
    with open(path, "rb") as handle:
        head = handle.read(SIGNATURE_SIZE)
    if head == FILE_SIGNATURE:
        return None
    if len(head) < SIGNATURE_SIZE:
        return riegeli.SkippedRegion(
            0,
            len(head),
            f"truncated file: only {len(head)} bytes, less than the {SIGNATURE_SIZE}-byte Riegeli file signature",
        )
    return riegeli.SkippedRegion(0, SIGNATURE_SIZE, "the Riegeli file signature (first 64 bytes) is damaged")


@dataclass
class Scan:
    """The outcome of reading every record."""

    size: int
    records: dict = dataclass_field(default_factory=dict)  # numeric position -> record size
    regions: list = dataclass_field(default_factory=list)  # SkippedRegion, in file order
    last_position: int | None = None
    record_bytes: int = 0

    def region_holding(self, position: int):
        for region in self.regions:
            if region.begin <= position < region.end:
                return region
        return None


def scan(path: str, bar=None) -> Scan:
    """Reads every record, verifying every hash; damaged chunks are skipped and listed."""
    result = Scan(size=os.path.getsize(path))
    damage = signature_damage(path)
    if damage is not None:
        result.regions.append(damage)
        if damage.end < SIGNATURE_SIZE:
            return result

    def recovery(region: riegeli.SkippedRegion) -> bool:
        result.regions.append(region)
        return True

    records = result.records
    with open_reader(path, recovery=recovery) as reader:
        try:
            for record in reader.read_records(copy=False):  # only sizes are kept
                position = reader.last_pos
                records[position.numeric] = len(record)
                result.record_bytes += len(record)
                if bar is not None:
                    bar.update(position.chunk_begin)
        except RiegeliError as error:  # damage recovery could not skip (should not happen on a file)
            begin = max(records, default=0)
            result.regions.append(riegeli.SkippedRegion(begin, result.size, str(error)))
    if records:
        result.last_position = max(records)
    return result


def read_metadata(path: str):
    """(ChunkMetadata, its position) read from the end of the file, or (None, error text)."""
    try:
        with open_reader(path) as reader:
            record = reader.read_last_record()
            position = reader.last_pos.numeric
        return common.parse_metadata(record), position
    except (ProtoSplitterError, OSError) as error:  # the metadata is unreadable
        return None, " ".join(str(error).split())
