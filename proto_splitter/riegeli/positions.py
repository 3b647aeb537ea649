"""Record positions: a chunk's beginning plus a record index, or their sum, the numeric position."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class RecordPosition:
    """Where a record lives. `numeric` (chunk_begin + record_index) is unique and ordered like the records,
    but a numeric position cannot be turned back into the pair without reading the file."""

    chunk_begin: int
    record_index: int

    @property
    def numeric(self) -> int:
        return self.chunk_begin + self.record_index

    def __str__(self) -> str:
        return f"{self.chunk_begin}/{self.record_index}"


@dataclass(frozen=True)
class SkippedRegion:
    """A damaged byte range [begin, end) that recovery skipped, and why."""

    begin: int
    end: int
    message: str
