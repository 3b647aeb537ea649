from collections.abc import Sequence

from typing_extensions import Buffer

def decode(
    states: bytes,
    first: int,
    nonproto_lengths: int,
    buffers: Sequence[Buffer],
    transitions: Buffer,
    num_records: int,
    decoded_size: int,
    /,
) -> tuple[bytearray | memoryview, list[int]]: ...
def encode(records: Sequence[Buffer], /) -> tuple[list[tuple[int, bytes]], bytes, bytes]: ...
