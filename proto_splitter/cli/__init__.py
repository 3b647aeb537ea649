"""The `proto-splitter` command (also `python -m proto_splitter`): inspect, split, merge, convert, verify
and extract chunked protos from the shell. One module per subcommand; exit codes: 0 success, 1 a check
failed (verify, or extract found nothing at the path), 2 usage or input error, 3 internal error."""

from __future__ import annotations

import argparse
import importlib
import sys

from google.protobuf.message import DecodeError, EncodeError

from .. import __version__
from ..errors import ProtoSplitterError
from .common import EXIT_INTERNAL, EXIT_USAGE

COMMANDS = ("info", "split", "merge", "convert", "verify", "extract")
EXAMPLES = """
examples:
  proto-splitter info model.cpb --type tensorflow.GraphDef
  proto-splitter split model.pb out/model --type tensorflow.GraphDef --max-chunk-size 64M --options zstd:3
  proto-splitter merge out/model.cpb model.pb --type tensorflow.GraphDef
  proto-splitter convert model.cpb model.zstd.cpb --options zstd:3
  proto-splitter verify model.cpb --recover fixed.cpb
  proto-splitter extract model.cpb 'node[3].attr["value"].tensor' --type tensorflow.GraphDef --npy w.npy

Run `proto-splitter COMMAND --help` for each command's options and examples.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="proto-splitter",
        description="Inspect, split, merge, recompress, verify and read chunked protobuf files (.cpb: "
        "TensorFlow's proto-splitter format, Riegeli records plus a ChunkMetadata).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"proto-splitter {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("\nproto-splitter: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except Exception as error:  # one clear line, exit code by kind; --debug shows the traceback
        if args.debug:
            raise
        code, text = _describe(error)
        print(f"proto-splitter {args.command}: error: {text}", file=sys.stderr)
        return code


def _describe(error: BaseException) -> tuple[int, str]:
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, ProtoSplitterError):
        return EXIT_USAGE, text
    if isinstance(error, (DecodeError, EncodeError)):
        return EXIT_USAGE, f"protobuf: {text}"
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return EXIT_USAGE, f"{where}{error.strerror or text}"
    if isinstance(error, MemoryError):
        return EXIT_USAGE, "out of memory"
    return EXIT_INTERNAL, f"internal error ({type(error).__name__}: {text}); run with --debug for the traceback"


def _silence_stdout() -> None:
    """After a closed pipe (info | head), keep Python from complaining when it flushes stdout at exit."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
