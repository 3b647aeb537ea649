"""Transposed chunks ('t'): Google's columnar encoding of protobuf records. The chunk data is the compression
type, the length-prefixed (compressed) header, the compressed buckets holding the data buffers, and the
compressed transitions of the state machine that the header describes (see transposed_states).

The state machine runs in the optional C extension `_transposed` when it is built, else in Python
(transposed_decoder, transposed_encoder); both give the same records and the same bytes. Every size and count a
damaged or forged chunk declares is checked against what the chunk holds before memory is taken for it."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import RiegeliError
from . import transposed_decoder, transposed_encoder
from .compression import NONE, compress, declared_size, decompress
from .sources import Bytes, Records
from .transposed_states import HeaderReader, StateMachine, parse_state_machine
from .varint import read_varint, varint

try:
    from . import _transposed
except ImportError:  # the optional extension was not built (no C compiler)
    _transposed = None  # type: ignore[assignment]  # the Python twins run instead

NATIVE = _transposed is not None
"""Whether the C state machine runs (tests set it False to run the Python one)."""
MAX_NONPROTO_LENGTH_SIZE = 10  # the varint of a non-proto record's length, in its buffer


def _fail(pos: int, what: str) -> RiegeliError:
    return RiegeliError(f"transposed chunk at byte {pos}: {what}")


# ---- decoding -----------------------------------------------------------------------------------------------


def decode(data: Bytes, num_records: int, decoded_size: int, pos: int) -> Records:
    """The records of a transposed chunk's data, checked against the chunk header's counts; `pos` names the
    chunk in errors."""
    view = memoryview(data)
    if not view:
        raise _fail(pos, "no data")
    kind = view[0]
    header_size, start = read_varint(view, 1, pos)
    if start + header_size > len(view):
        raise _fail(pos, f"the header ({header_size} bytes) runs past the chunk data")
    # Bounds of what a chunk of these records can hold: each field and record yields at least one byte or
    # record, and takes at most a few bytes of states, header and transitions (Google's encoder stays within).
    units = decoded_size + num_records
    header = HeaderReader(decompress(kind, view[start : start + header_size], pos, 128 * units + 4096), pos)
    buffers, after = _buffers(kind, view, start + header_size, header, num_records, decoded_size, pos)
    machine = parse_state_machine(header, len(buffers))
    transitions = decompress(kind, view[after:], pos, 64 * units + 4096)
    if NATIVE and _transposed is not None:
        values, bounds = _run_native(machine, buffers, transitions, num_records, decoded_size, pos)
    else:
        values, bounds = transposed_decoder.run(machine, buffers, transitions, num_records, decoded_size, pos)
    return memoryview(values), bounds


def _buffers(
    kind: int, view: memoryview, start: int, header: HeaderReader, num_records: int, decoded_size: int, pos: int
) -> tuple[list[Bytes], int]:
    """The data buffers, cut from the decompressed buckets following the header, and where the buckets end.
    A buffer never straddles two buckets, and the buckets hold exactly the buffers."""
    num_buckets = header.varint32()
    num_buffers = header.varint32()
    bucket_sizes = header.varints64(num_buckets, "bucket sizes")
    buffer_sizes = header.varints64(num_buffers, "buffer sizes")
    if not num_buckets:
        if num_buffers:
            raise _fail(pos, f"{num_buffers} buffers in no bucket")
        return [], start
    if sum(buffer_sizes) > decoded_size + MAX_NONPROTO_LENGTH_SIZE * num_records:
        raise _fail(pos, f"its buffers ({sum(buffer_sizes)} bytes) exceed the records they hold")
    compressed: list[memoryview] = []
    for size in bucket_sizes:
        if start + size > len(view):
            raise _fail(pos, f"a bucket ({size} bytes) runs past the chunk data")
        compressed.append(view[start : start + size])
        start += size
    # Assign buffers to buckets by the buckets' declared sizes, then decompress them (each within its size).
    declared = [declared_size(kind, bucket, pos) for bucket in compressed]
    bucket_of, bucket, used = [], 0, 0
    for size in buffer_sizes:
        if used + size > declared[bucket]:
            raise _fail(pos, f"a buffer of {size} bytes does not fit in bucket {bucket}")
        bucket_of.append(bucket)
        used += size
        while used == declared[bucket] and bucket + 1 < num_buckets:
            bucket, used = bucket + 1, 0
    if bucket + 1 < num_buckets or used != declared[bucket]:
        raise _fail(pos, "the buffers do not fill the buckets")
    contents = [decompress(kind, data, pos, size) for data, size in zip(compressed, declared, strict=True)]
    buffers: list[Bytes] = []
    offsets = [0] * num_buckets
    for size, bucket in zip(buffer_sizes, bucket_of, strict=True):
        buffers.append(contents[bucket][offsets[bucket] : offsets[bucket] + size])
        offsets[bucket] += size
    return buffers, start


def _run_native(
    machine: StateMachine, buffers: list[Bytes], transitions: Bytes, num_records: int, decoded_size: int, pos: int
) -> tuple[Bytes, list[int]]:
    """The C state machine: the same results and errors as transposed_decoder.run."""
    try:
        return _transposed.decode(
            machine.packed(), machine.first, machine.nonproto_lengths, buffers, transitions, num_records, decoded_size
        )
    except ValueError as error:
        raise _fail(pos, str(error)) from None


# ---- encoding -----------------------------------------------------------------------------------------------


def encode(
    records: Sequence[Bytes],
    kind: int,
    level: int | None,
    window_log: int | None,
    bucket_size: int | None,
) -> tuple[bytes, int]:
    """Chunk data for `records` and their decoded size. `bucket_size` (None: unlimited) is the approximate
    decompressed size of the buckets of buffers compressed together. The data is joined once, at the end."""
    if NATIVE and _transposed is not None:
        buffers, states, transitions = _transposed.encode(records)
    else:
        parts = transposed_encoder.transpose(records)
        buffers, states, transitions = parts.buffers, parts.states, parts.transitions
    buckets = [
        b"".join(bucket) if kind == NONE else compress(kind, b"".join(bucket), level, window_log)
        for bucket in _buckets(buffers, None if kind == NONE else bucket_size)
    ]
    header = b"".join(
        [
            varint(len(buckets)),
            varint(len(buffers)),
            *(varint(len(bucket)) for bucket in buckets),
            *(varint(len(contents)) for _, contents in buffers),
            states,
        ]
    )
    if kind != NONE:
        header, transitions = compress(kind, header, level, window_log), compress(kind, transitions, level, window_log)
    data = b"".join([bytes([kind]), varint(len(header)), header, *buckets, transitions])
    return data, sum(map(len, records))


def _buckets(buffers: list[tuple[int, bytes]], bucket_size: int | None) -> list[list[bytes]]:
    """Buffers grouped into buckets as Google's encoder groups them: never two types in one bucket, and within a
    type, buckets of about `bucket_size` bytes (closed from the largest buffers down)."""
    buckets: list[list[bytes]] = []
    start = 0
    while start < len(buffers):
        end = start
        while end < len(buffers) and buffers[end][0] == buffers[start][0]:
            end += 1
        contents = [data for _, data in buffers[start:end]]
        sizes = _bucket_sizes([len(data) for data in contents], bucket_size)
        remaining = 0
        for data in contents:
            if not remaining:
                remaining = sizes.pop()
                buckets.append([])
            buckets[-1].append(data)
            remaining -= len(data)
        start = end
    return buckets


def _bucket_sizes(sizes: list[int], bucket_size: int | None) -> list[int]:
    """Decompressed sizes of the buckets of one buffer type, last bucket first (buffers ascend in size)."""
    if bucket_size is None:
        return [sum(sizes)]
    remaining, current, out = sum(sizes), 0, []
    for size in reversed(sizes):
        if current and current + size // 2 >= bucket_size:
            out.append(current)
            current = 0
        current += size
        remaining -= size
        if remaining <= bucket_size // 2:
            current += remaining
            break
    if current:
        out.append(current)
    return out
