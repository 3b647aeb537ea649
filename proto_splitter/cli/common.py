"""Helpers shared by the subcommands: errors, sizes, opening files, reading metadata leniently, writing
output files atomically, and the common command-line options."""

from __future__ import annotations

import argparse
import os
import re
import sys

from google.protobuf.message import DecodeError

from .. import _atomic, files, riegeli
from ..errors import ProtoSplitterError
from ..proto import chunk_pb2

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class CliError(ProtoSplitterError):
    """A usage or input problem found by the command line tool (exit code 2)."""


# ---- sizes ------------------------------------------------------------------------------------------------


def parse_size(text: str) -> int:
    """A byte count such as 4096, 64k, 64M, 1.5G, 64MiB (binary multiples)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (examples: 4096, 64k, 64M, 1G)")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if value != int(value) or value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole, positive number of bytes")
    return int(value)


def human(size: int | float | None) -> str:
    """2.0 MiB, 312 B, 3.10 GiB."""
    if size is None:
        return "?"
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(size) >= scale:
            return f"{size / scale:.{2 if unit in ('GiB', 'TiB') else 1}f} {unit}"
    return f"{int(size)} B"


# ---- files -------------------------------------------------------------------------------------------------


def locate(path: str) -> tuple[str, bool]:
    """(path, is_chunked) for a file or a prefix (`model` finds model.cpb, then model.pb); a `.cpb` whose
    Riegeli signature is damaged still counts as chunked, so that verify can say so."""
    return files.resolve(path)


def read_metadata_unchecked(path: str) -> chunk_pb2.ChunkMetadata:
    """The ChunkMetadata in the last record, without refusing versions this library cannot merge (info shows
    them); raises ChunkedProtoError/RiegeliError with a clear message otherwise."""
    with riegeli.RecordReader(path) as reader:
        record = reader.read_last_record()
    return parse_metadata(record)


def parse_metadata(record: bytes) -> chunk_pb2.ChunkMetadata:
    metadata = chunk_pb2.ChunkMetadata()
    try:
        metadata.ParseFromString(record)
    except DecodeError as error:
        raise files.ChunkedProtoError(
            f"the last record is not a ChunkMetadata ({error}); this Riegeli file is not a chunked proto"
        ) from None
    if not metadata.HasField("message"):
        raise files.ChunkedProtoError(
            "the last record is not a ChunkMetadata (it has no chunk tree); this Riegeli file is not a chunked proto"
        )
    return metadata


def write_atomically(path: str, data) -> None:
    """Writes bytes to `path` through a temporary file in the same folder, with ordinary permissions."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CliError(f"folder {directory} does not exist")
    _atomic.write_bytes(path, data)


def check_output_folder(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CliError(f"cannot write {path}: folder {directory} does not exist")


def say(args, text: str) -> None:
    """A summary line on stdout, silenced by --quiet."""
    if not getattr(args, "quiet", False):
        print(text, flush=True)


def warn(text: str) -> None:
    print(f"proto-splitter: {text}", file=sys.stderr, flush=True)


# ---- common options ----------------------------------------------------------------------------------------


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand takes (a parent parser)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("general options")
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bars and no summary lines (reports and errors are still printed)",
    )
    group.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    return parent


def type_options(required: bool = False) -> argparse.ArgumentParser:
    """--type and --descriptor-set (a parent parser)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("message type")
    group.add_argument(
        "-t",
        "--type",
        dest="type",
        metavar="TYPE",
        required=False,
        help="message type: a full name the library ships (tensorflow.GraphDef, "
        "tensorflow.SavedModel, proto_splitter.testing3.Graph, ...), module:Class for your "
        "own _pb2 module (e.g. my_pkg.model_pb2:Model), or a full name from --descriptor-set"
        + ("" if not required else " (required)"),
    )
    group.add_argument(
        "--descriptor-set",
        metavar="FILE",
        help="a FileDescriptorSet (protoc --include_imports --descriptor_set_out=FILE) holding the message type",
    )
    return parent


def options_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--options",
        metavar="OPTIONS",
        default=None,
        help=f"Riegeli writer options for {what}: uncompressed (default), zstd[:level], "
        "brotli[:level], snappy, chunk_size:4M, padding, ... (Google's grammar)",
    )


def check_options(text: str | None) -> None:
    """Fails early (exit 2) on a bad options string, before any work is done."""
    riegeli.parse_options(text)


class ExamplesFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples in epilogs as written."""


def add_command(subparsers, name: str, summary: str, description: str, examples: str, parents: list):
    return subparsers.add_parser(
        name,
        help=summary,
        description=description,
        epilog="examples:\n" + examples.rstrip() + "\n",
        parents=parents,
        formatter_class=ExamplesFormatter,
    )
