"""Runs of list elements: the serialized elements of a repeated message field gathered into runs of occurrences
without a Python step per element, for the splitter's long repeated fields (millions of small messages).

An element joins a run when it is small (under `size_limit` bytes) and shallow (fewer than `room` message levels
below it: a run sits in a chunk that protobuf must parse within its recursion limit); any other element is handed
back on its own, to be walked. The optional C extension `_element_runs` does this at memory speed; without it the
same results come from Python loops.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from . import wire
from .wire import WireBuffer

try:
    from . import _element_runs  # type: ignore[attr-defined]
except ImportError:  # the optional extension was not built (no compiler)
    _element_runs = None

UNLIMITED = 1 << 62  # a `room` no message reaches


def sublevels(buf: WireBuffer, start: int, end: int, cap: int) -> int:
    """An upper bound, at most `cap`, of how many message levels the message serialized in buf[start:end] holds below
    itself (0 without sub-messages). Without a schema, any length-delimited payload that parses as wire format counts
    as a message, so the bound never falls short; bytes that do not parse give `cap`."""
    if cap <= 0:
        return 0
    if _element_runs is not None:
        return int(_element_runs.sublevels(buf, start, end, cap))
    return min(cap, (end - start) // 2)  # each level costs at least a tag and a length


def _stays_in_run(data: WireBuffer, size_limit: int, room: int) -> bool:
    size = len(data)
    return size < size_limit and (size // 2 < room or sublevels(data, 0, size, room) < room)


def frame(
    source: FrameSource, start_tag: bytes, end_tag: bytes, budget: int, size_limit: int, room: int
) -> tuple[bytes, int, bytes | BaseException | None]:
    """Frames the element serializations from `source` as occurrences of one field (`start_tag`, then a length, or
    `end_tag` after the payload for a group) into one run of at most `budget` bytes (or a single element). Returns
    (run, count, stop): count elements went into the run; stop is an element that must stand alone (its bytes, not
    in the run) or the exception the iterator raised, else None (the run is full, or the elements ended: then count
    is 0 on the next call). An element that would overflow the run is kept in `source` to start the next one."""
    framing = _element_runs.frame if _element_runs is not None else _frame
    run, count, stop, carried = framing(source.iterator, start_tag, end_tag, budget, size_limit, room)
    if carried:
        assert isinstance(stop, bytes)
        source.keep(stop)
        stop = None
    return run, count, stop


class FrameSource:
    """The element serializations frame() reads (`iterator`, a C-level iterator), able to take back the one element
    that starts the next run."""

    def __init__(self, serialized: Iterator[bytes]) -> None:
        self._serialized = serialized
        self.iterator: Iterator[bytes] = serialized

    def keep(self, element: bytes) -> None:
        """Makes `element` the next one (the previous kept one was read: it started the run just framed)."""
        self.iterator = itertools.chain((element,), self._serialized)


def _frame(
    serialized: Iterator[bytes], start_tag: bytes, end_tag: bytes, budget: int, size_limit: int, room: int
) -> tuple[bytes, int, bytes | BaseException | None, bool]:
    """frame() in Python, returning as the C version does whether `stop` starts the next run."""
    pieces: list[bytes] = []
    size = count = 0
    while size < budget:
        try:
            data = next(serialized)
        except StopIteration:
            break
        except Exception as error:  # noqa: BLE001 (handed to the caller, like the C version)
            return b"".join(pieces), count, error, False
        head = start_tag if end_tag else start_tag + wire.encode_varint(len(data))
        framed = len(head) + len(data) + len(end_tag)
        alone = not _stays_in_run(data, size_limit, room)
        if alone or (count and size + framed > budget):
            return b"".join(pieces), count, data, not alone
        pieces += (head, data, end_tag)
        size += framed
        count += 1
    return b"".join(pieces), count, None, False


def cut(
    buf: WireBuffer, start: int, end: int, key: int, budget: int, size_limit: int, room: int
) -> Iterator[tuple[int, int, int]]:
    """The occurrences of one field (`key`: number << 3 | wire type) in the message serialized in buf[start:end], as
    (start, end, index): runs of consecutive elements that join a run (index -1; at most `budget` bytes each, or one
    element; cut at other fields' occurrences) and elements that stand alone (their index among the field's
    occurrences)."""
    if _element_runs is not None:
        try:
            table = _element_runs.cut(buf, start, end, key, budget, size_limit, room)
        except ValueError as error:
            raise wire.WireFormatError(str(error)) from None
        yield from (tuple(row) for row in np.frombuffer(table, dtype="<i8").reshape(-1, 3).tolist())
        return
    run: tuple[int, int] | None = None
    index = 0
    for occ in wire.scan(buf, start, end):
        if (occ.field_number << 3) | occ.wire_type != key:
            if run:
                yield (*run, -1)
            run = None
            continue
        if _stays_in_run(bytes(buf[occ.payload_start : occ.payload_end]), size_limit, room):
            if run and occ.end - run[0] > budget:  # a run is within budget, or one element
                yield (*run, -1)
                run = None
            run = (run[0] if run else occ.start, occ.end)
        else:
            if run:
                yield (*run, -1)
            run = None
            yield (occ.start, occ.end, index)
        index += 1
    if run:
        yield (*run, -1)
