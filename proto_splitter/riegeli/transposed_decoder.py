"""Runs a transposed chunk's state machine in Python: the portable twin of the C decoder in `_transposed.c`
(used when that optional extension is not built, and tested against it). Records come out backwards, last
record first, each field before the fields preceding it; submessage lengths are known once their fields are out."""

from __future__ import annotations

from ..errors import RiegeliError
from .sources import Bytes
from .transposed_states import (
    COPY_TAG,
    FIXED,
    MESSAGE_START,
    NONPROTO,
    STRING,
    SUBMESSAGE_END,
    SUBMESSAGE_START,
    VARINT,
    StateMachine,
)
from .varint import varint


def run(
    machine: StateMachine, buffers: list[Bytes], transitions: Bytes, num_records: int, decoded_size: int, pos: int
) -> tuple[bytes, list[int]]:
    """The records' bytes, concatenated, and where each record begins (and the last ends); RiegeliError (naming
    the chunk at `pos`) when the states, buffers and transitions do not make `num_records` records of
    `decoded_size` bytes."""

    def fail(what: str) -> RiegeliError:
        return RiegeliError(f"transposed chunk at byte {pos}: {what}")

    kinds, tags, sizes, buffer_of = machine.kinds, machine.tags, machine.sizes, machine.buffers
    nexts, implicit, count = machine.nexts, machine.implicit, len(machine.kinds)
    cursors = [0] * len(buffers)
    pieces: list[Bytes] = []  # the output, last piece first
    written = 0
    submessages: list[tuple[int, int]] = []  # (written at the submessage's end, its end state)
    record_ends: list[int] = []  # written when each record's start was reached: its distance from the end

    def read(buffer: int, size: int) -> Bytes:
        start = cursors[buffer]
        if start + size > len(buffers[buffer]):
            raise fail(f"buffer {buffer} ends before the value at its byte {start}")
        cursors[buffer] = start + size
        return buffers[buffer][start : start + size]

    def read_varint32(buffer: int, what: str) -> tuple[int, int]:
        data, start = buffers[buffer], cursors[buffer]
        value, shift, index = 0, 0, start
        while index < len(data) and index - start < 5:
            byte = data[index]
            value |= (byte & 0x7F) << shift
            index += 1
            if byte < 0x80:
                if value >> 32:
                    break
                return value, index - start
            shift += 7
        raise fail(f"malformed {what} in buffer {buffer} at its byte {start}")

    def start_record() -> None:
        if submessages:
            raise fail("a record starts inside an open submessage")
        if len(record_ends) == num_records:
            raise fail(f"more records than the {num_records} of the chunk header")
        record_ends.append(written)

    state, transition, repeats = machine.first, 0, int(implicit[machine.first])
    while True:
        kind = kinds[state]
        piece: Bytes | None = None
        if kind == COPY_TAG:
            piece = tags[state]
        elif kind == VARINT:
            value = read(buffer_of[state], sizes[state])
            piece = tags[state] + bytes(byte | 0x80 for byte in value[:-1]) + bytes(value[-1:])
        elif kind == FIXED:
            piece = tags[state] + bytes(read(buffer_of[state], sizes[state]))
        elif kind == STRING:
            length, length_size = read_varint32(buffer_of[state], "string length")
            piece = tags[state] + bytes(read(buffer_of[state], length_size + length))
        elif kind == SUBMESSAGE_END:
            if 2 * (len(submessages) + 1) > decoded_size - written:  # each takes a tag and a length yet
                raise fail("more submessages open than the records can hold")
            submessages.append((written, state))
        elif kind == SUBMESSAGE_START:
            if not submessages:
                raise fail("a submessage starts that never ended")
            end, end_state = submessages.pop()
            piece = tags[end_state] + varint(written - end)
        elif kind == MESSAGE_START:
            start_record()
        elif kind == NONPROTO:
            length, length_size = read_varint32(machine.nonproto_lengths, "non-proto record length")
            cursors[machine.nonproto_lengths] += length_size
            piece = read(buffer_of[state], length)
        if piece:
            pieces.append(piece)
            written += len(piece)
            if written > decoded_size:
                raise fail(f"the records exceed the {decoded_size} bytes of the chunk header")
        if kind == NONPROTO:
            start_record()
        state = nexts[state]
        if repeats:
            repeats -= 0 if implicit[state] else 1
        else:
            if transition == len(transitions):
                break
            byte = transitions[transition]
            transition += 1
            state += byte >> 2
            if state >= count:
                raise fail(f"a transition leads to state {state}, past the {count} states")
            repeats = (byte & 3) + implicit[state]
    if submessages:
        raise fail("a submessage never starts")
    if len(record_ends) != num_records:
        raise fail(f"{len(record_ends)} records, the chunk header says {num_records}")
    if (record_ends[-1] if record_ends else 0) != written:
        raise fail("bytes before the first record")
    if written != decoded_size:
        raise fail(f"{written} bytes of records, the chunk header says {decoded_size}")
    return b"".join(reversed(pieces)), [written - end for end in reversed(record_ends)] + [written]
