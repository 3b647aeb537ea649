"""A Riegeli/records codec, byte-compatible with Google's riegeli: simple chunks with none, brotli, zstd and
snappy compression, hashes verified on every read, seeking with block headers. Knows nothing of splitting.

    with RecordWriter("data.riegeli", options="zstd:1") as writer:
        writer.write_record(b"...")
    with RecordReader("data.riegeli") as reader:
        for record in reader.read_records(): ...
"""

from ..errors import RiegeliError
from .format import chunk_end_estimate
from .options import DEFAULT_OPTIONS, WriterOptions, parse_options
from .positions import RecordPosition, SkippedRegion
from .reader import RecordReader
from .writer import RecordWriter

__all__ = [
    "DEFAULT_OPTIONS",
    "RecordPosition",
    "RecordReader",
    "RecordWriter",
    "RiegeliError",
    "SkippedRegion",
    "WriterOptions",
    "chunk_end_estimate",
    "parse_options",
]
