"""Turning the byte ranges a reader will need, in the order it will need them, into ranged requests: neighbours
are fetched together, and no request is larger than a cap. Pure arithmetic, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class PlannedRequest:
    """One ranged request [start, end) and the entries (indices into the planned ranges) whose bytes it
    carries: its data may be dropped once all of them are released."""

    start: int
    end: int
    entries: list[int] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.end - self.start


def plan_requests(ranges: Sequence[tuple[int, int]], max_request: int, gap: int) -> list[PlannedRequest]:
    """Requests covering `ranges` ([start, end) byte ranges, in the order they will be read), in that order.

    A range starting at most `gap` bytes after the current request's end (or inside it) extends that request,
    as long as the request stays within `max_request` bytes; a range larger than `max_request` is cut into
    several requests. Empty ranges need no request."""
    if max_request < 1:
        raise ValueError(f"max_request must be positive, got {max_request}")
    requests: list[PlannedRequest] = []
    for index, (start, end) in enumerate(ranges):
        position = start
        while position < end:
            current = requests[-1] if requests else None
            if (
                current is not None
                and current.start <= position <= current.end + gap
                and position < current.start + max_request
            ):
                if current.entries[-1] != index:
                    current.entries.append(index)
                current.end = max(current.end, min(end, current.start + max_request))
                position = current.end  # past `position`: it lies before both `end` and the cap
                continue
            requests.append(PlannedRequest(position, min(end, position + max_request), [index]))
            position = requests[-1].end
    return requests
