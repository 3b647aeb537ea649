"""Writer options strings in Google's grammar (riegeli doc/record_writer_options.md), e.g.
"zstd:3,chunk_size:4M,padding". Our default is `uncompressed`: large binary payloads (tensors) barely
compress and hashing already costs about 1 s/GiB, so compression is opt-in (Google's default is brotli:6)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import RiegeliError
from .compression import BROTLI, NONE, SNAPPY, ZSTD
from .format import BLOCK_SIZE

DEFAULT_OPTIONS = "uncompressed"
_LEVELS = {BROTLI: (0, 11, 6), ZSTD: (-131072, 22, 3)}
_WINDOW_LOGS = {
    BROTLI: (10, 24),
    ZSTD: (10, 31),
}  # Google allows brotli 25..30 (large window); the brotli package does not
_SUFFIXES = {
    "": 1,
    "k": 1 << 10,
    "K": 1 << 10,
    "m": 1 << 20,
    "M": 1 << 20,
    "g": 1 << 30,
    "G": 1 << 30,
    "t": 1 << 40,
    "T": 1 << 40,
}


@dataclass(frozen=True)
class WriterOptions:
    """Parsed writer options."""

    compression: int = NONE
    level: int | None = None
    window_log: int | None = None
    chunk_size: int = 1 << 20
    bucket_fraction: float = 1.0
    initial_padding: int = 1
    final_padding: int = 1
    parallelism: int = 0
    transpose: bool = False

    @property
    def bucket_size(self) -> int:
        """The decompressed size of the buckets of a transposed chunk, as Google's writer derives it."""
        return max(1, round(self.chunk_size * self.bucket_fraction))


def _bytes(key: str, value: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(?:e(\d+))?([kKmMgGtT]?)", value)
    if not match:
        raise RiegeliError(f"option {key!r}: {value!r} is not a byte count")
    number = float(match.group(1)) * 10 ** int(match.group(2) or 0) * _SUFFIXES[match.group(3)]
    if number < 1 or number != int(number):
        raise RiegeliError(f"option {key!r}: {value!r} must be a positive whole number of bytes")
    return int(number)


def _integer(key: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise RiegeliError(f"option {key!r}: {value!r} is not an integer") from None
    if not low <= number <= high:
        raise RiegeliError(f"option {key!r}: {number} is outside [{low}, {high}]")
    return number


def _boolean(key: str, value: str | None) -> bool:
    if value in (None, "true"):
        return True
    if value == "false":
        return False
    raise RiegeliError(f"option {key!r}: {value!r} must be true or false")


def parse_options(text: str | None) -> WriterOptions:
    """Parses an options string; raises RiegeliError naming any unknown key or bad value."""
    if text is not None and not isinstance(text, str):
        raise RiegeliError(f"options must be a string, got {type(text).__name__}")
    fields: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in (text or DEFAULT_OPTIONS).split(","))):
        key, colon, text_value = item.partition(":")
        value = text_value if colon else None
        if key == "default":
            continue
        if key in ("uncompressed", "snappy") and value is not None:
            raise RiegeliError(f"option {key!r} takes no value")
        if key == "uncompressed":
            fields.update(compression=NONE, level=None)
        elif key == "snappy":
            fields.update(compression=SNAPPY, level=None)
        elif key in ("brotli", "zstd"):
            kind = BROTLI if key == "brotli" else ZSTD
            low, high, _default = _LEVELS[kind]
            fields.update(compression=kind, level=None if value is None else _integer(key, value, low, high))
        elif key == "window_log":
            fields["window_log"] = None if value in (None, "auto") else _integer(key, value, 10, 31)
        elif key == "chunk_size":
            fields["chunk_size"] = _bytes(key, value or "")
        elif key == "bucket_fraction":
            try:
                fraction = float(value or "")
            except ValueError:
                raise RiegeliError(f"option 'bucket_fraction': {value!r} is not a number") from None
            if not 0 <= fraction <= 1:
                raise RiegeliError(f"option 'bucket_fraction': {fraction} is outside [0, 1]")
            fields["bucket_fraction"] = fraction
        elif key in ("padding", "initial_padding", "final_padding"):
            amount = BLOCK_SIZE if value is None else _bytes(key, value)
            for side in ("initial_padding", "final_padding") if key == "padding" else (key,):
                fields[side] = amount
        elif key == "pad_to_block_boundary":
            if _boolean(key, value):
                fields.update(initial_padding=BLOCK_SIZE, final_padding=BLOCK_SIZE)
        elif key == "parallelism":
            fields["parallelism"] = _integer(key, value or "", 0, 1024)
        elif key == "transpose":
            fields["transpose"] = _boolean(key, value)
        else:
            raise RiegeliError(f"unknown riegeli writer option {key!r} in {text!r}")
    options = WriterOptions(**fields)
    if options.window_log is not None and options.compression in _WINDOW_LOGS:
        low, high = _WINDOW_LOGS[options.compression]
        if not low <= options.window_log <= high:
            raise RiegeliError(f"option 'window_log': {options.window_log} is outside [{low}, {high}]")
    return options
