"""`proto-splitter split IN.pb OUT_PREFIX --type T`: cut a message into a `.cpb`."""

from __future__ import annotations

import os

from .. import files, riegeli
from ..index_builder import IndexBuilder
from ..registry import splitter_for
from ..splitter import object_size
from . import common, message_types
from .progress import progress

EXAMPLES = """
  proto-splitter split model.pb out/model --type tensorflow.GraphDef                 # writes out/model.cpb
  proto-splitter split model.pb out/model --type tensorflow.GraphDef --max-chunk-size 64M --options zstd:3
  proto-splitter split saved_model.pb sm --type tensorflow.SavedModel --max-chunk-size 16M
  proto-splitter split data.pb data --type my_pkg.data_pb2:Data
"""


def register(subparsers) -> None:
    parser = common.add_command(
        subparsers,
        "split",
        "split a .pb message into a chunked .cpb",
        "Reads a message (a .pb, or a .cpb to re-chunk it) and writes OUT_PREFIX.cpb: its chunks as Riegeli\n"
        "records followed by the ChunkMetadata, readable by TensorFlow's Merger and by ps.read. The output\n"
        "is always a .cpb, even for a message small enough to stay whole (then it is a single chunk).",
        EXAMPLES,
        [common.common_options(), common.type_options(required=True)],
    )
    parser.add_argument("input", metavar="IN", help="the message to split: a .pb (or a .cpb, or a prefix)")
    parser.add_argument("output", metavar="OUT_PREFIX", help="where to write: OUT_PREFIX.cpb")
    parser.add_argument(
        "--max-chunk-size",
        type=common.parse_size,
        default=None,
        metavar="SIZE",
        help="largest chunk, e.g. 64M (default: just under protobuf's 2 GiB limit)",
    )
    add_cut_values_option(parser)
    common.options_option(parser, "the output")
    parser.set_defaults(run=run)


def add_cut_values_option(parser) -> None:
    """--cut-values: proto-splitter's value pieces (TensorFlow's Merger refuses such files)."""
    parser.add_argument(
        "--cut-values",
        action="store_true",
        help="cut bytes/string values larger than a chunk into pieces (needed past 2 GiB); only proto-splitter "
        "reads such files: TensorFlow's Merger refuses them",
    )


def output_path(prefix: str) -> str:
    for extension in (".cpb", ".pb"):
        if prefix.endswith(extension):
            prefix = prefix[: -len(extension)]
    return prefix + ".cpb"


def run(args) -> int:
    message_class = message_types.resolve(args.type, args.descriptor_set)
    common.check_options(args.options)
    source, _ = common.locate(args.input)
    destination = output_path(args.output)
    common.check_output_folder(destination)
    message = files.read(source, message_class)
    count, size = write_cpb(args, message, destination, args.max_chunk_size, args.options)
    common.say(
        args,
        f"wrote {destination}: {count} chunks, {common.human(os.path.getsize(destination))} "
        f"({message_class.DESCRIPTOR.full_name}, {common.human(size)} serialized)",
    )
    return common.EXIT_OK


class _CountingSink(files.RecordSink):
    """The library's record sink, advancing a progress bar by the bytes of each chunk written."""

    def __init__(self, writer, bar, index):
        super().__init__(writer, index)
        self._bar = bar

    def add(self, data, chunk_type: int) -> int:
        index = super().add(data, chunk_type)
        self._bar.advance(self.infos[index].size)
        return index

    def fill(self, index: int, data, chunk_type: int) -> None:
        super().fill(index, data, chunk_type)
        self._bar.advance(self.infos[index].size)


def write_cpb(args, message, destination: str, max_chunk_size: int | None, options: str | None) -> tuple[int, int]:
    """Splits `message` into a `.cpb` at `destination` (always chunked); returns (chunks, message size)."""
    size = object_size(message)
    splitter = splitter_for(message, max_chunk_size, args.cut_values)
    with progress(args, "splitting", size) as bar:
        with riegeli.RecordWriter(destination, options=options) as writer:
            sink = _CountingSink(writer, bar, IndexBuilder(message.DESCRIPTOR))
            sink.finish(splitter.split(message, sink))
    return len(sink.infos), size
