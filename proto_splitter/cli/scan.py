"""Reading every record of a Riegeli file with the codec's recovery mode: which records survive (position
and size), which byte ranges are damaged and why. Used by verify and by verify --recover."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

from .. import riegeli
from ..errors import ProtoSplitterError, RiegeliError
from ..riegeli.format import FILE_SIGNATURE
from . import common
from .inputs import InputFile

SIGNATURE_SIZE = len(FILE_SIGNATURE)


class _RepairedSignature:
    """A positioned reader over a file whose 64-byte Riegeli signature is damaged, showing an intact one, so the
    reader can go on to the chunks behind it (the damage itself is reported separately)."""

    def __init__(self, source: InputFile):
        self._source = source

    def size(self) -> int:
        return self._source.size()

    def read_into(self, position: int, out: memoryview) -> int:
        count = self._source.read_into(position, out)
        if position < SIGNATURE_SIZE and count:
            end = min(SIGNATURE_SIZE, position + count)
            out[: end - position] = FILE_SIGNATURE[position:end]
        return count


def open_reader(source: InputFile, recovery=None) -> riegeli.RecordReader:
    """A reader over `source` (which stays open), working around a damaged file signature."""
    if signature_damage(source) is None or source.size() < SIGNATURE_SIZE:
        return riegeli.RecordReader(source, recovery=recovery)
    return riegeli.RecordReader(_RepairedSignature(source), recovery=recovery)


def signature_damage(source: InputFile) -> riegeli.SkippedRegion | None:
    head = source.read_at(0, SIGNATURE_SIZE)
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


def scan(source: InputFile, bar=None) -> Scan:
    """Reads every record, verifying every hash; damaged chunks are skipped and listed."""
    result = Scan(size=source.size())
    damage = signature_damage(source)
    if damage is not None:
        result.regions.append(damage)
        if damage.end < SIGNATURE_SIZE:
            return result

    def recovery(region: riegeli.SkippedRegion) -> bool:
        result.regions.append(region)
        return True

    records = result.records
    with open_reader(source, recovery=recovery) as reader, source.front_to_back() as done_before:
        try:
            for record in reader.read_records(copy=False):  # only sizes are kept
                position = reader.last_pos
                records[position.numeric] = len(record)
                result.record_bytes += len(record)
                done_before(position.chunk_begin)
                if bar is not None:
                    bar.update(position.chunk_begin)
        except RiegeliError as error:  # damage recovery could not skip (should not happen on a file)
            begin = max(records, default=0)
            result.regions.append(riegeli.SkippedRegion(begin, result.size, str(error)))
    if records:
        result.last_position = max(records)
    return result


def try_read_metadata(source: InputFile):
    """(ChunkMetadata, its position) read from the end of the file, or (None, error text)."""
    try:
        with open_reader(source) as reader:
            record = reader.read_last_record()
            position = reader.last_pos.numeric
        return common.parse_metadata(record), position
    except (ProtoSplitterError, OSError) as error:  # the metadata is unreadable
        return None, " ".join(str(error).split())
