"""Varint64 encoding used inside Riegeli chunks."""

from __future__ import annotations

from ..errors import RiegeliError
from .sources import Bytes


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_varint(buf: Bytes, offset: int, pos: int) -> tuple[int, int]:
    """Decodes a varint64 at buf[offset:]; pos names the chunk in errors."""
    result = shift = 0
    for index in range(offset, min(len(buf), offset + 10)):
        byte = buf[index]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result >= 1 << 64:
                break
            return result, index + 1
        shift += 7
    raise RiegeliError(f"malformed varint in the chunk at byte {pos}")
