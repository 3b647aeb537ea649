"""`proto-splitter merge IN.cpb OUT.pb --type T`: rebuild a chunked message into a plain `.pb`."""

from __future__ import annotations

from .. import files, riegeli
from ..merger import Merger, check_version
from ..splitter import PROTOBUF_LIMIT, object_size
from . import common, message_types
from .progress import progress

EXAMPLES = """
  proto-splitter merge model.cpb model.pb --type tensorflow.GraphDef
  proto-splitter merge saved_model.cpb saved_model.pb --type tensorflow.SavedModel
  proto-splitter merge data.cpb data.pb --descriptor-set data.desc --type my.pkg.Data
"""


def register(subparsers) -> None:
    parser = common.add_command(
        subparsers,
        "merge",
        "merge a .cpb back into one plain .pb (< 2 GiB)",
        "Merges the chunks of IN into one message and writes it serialized to OUT. Refuses (before merging,\n"
        "from the chunk sizes in the metadata, and again from the exact size) when the message would exceed\n"
        "protobuf's 2 GiB limit, which no protobuf parser reads: keep such messages as .cpb.",
        EXAMPLES,
        [common.common_options(), common.type_options(required=True)],
    )
    parser.add_argument("input", metavar="IN", help="a .cpb file (or a prefix)")
    parser.add_argument("output", metavar="OUT", help="the .pb file to write")
    parser.set_defaults(run=run)


def too_big(source: str, size: int, exact: bool) -> common.CliError:
    amount = f"{common.human(size)}" if exact else f"at least about {common.human(size)}"
    return common.CliError(
        f"merging {source} gives a message of {amount}, over protobuf's 2 GiB limit ({PROTOBUF_LIMIT} bytes): "
        "no protobuf parser can read such a .pb. Keep it as .cpb (ps.read, TensorFlow and `proto-splitter "
        "extract` read it), or split it differently with `proto-splitter convert --max-chunk-size`"
    )


class _CountingChunks(files.RiegeliChunks):
    """The library's chunk source, advancing a progress bar by the bytes of each chunk read."""

    def __init__(self, reader, infos, bar):
        super().__init__(reader, infos)
        self._bar = bar

    def get(self, index: int) -> bytes:
        record = super().get(index)
        self._bar.advance(len(record))
        return record


def merge_file(args, source, message_class, refuse_over_limit: bool = False):
    """Merges a `.cpb` (a path, or an InputFile) with a progress bar; with refuse_over_limit, refuses before
    reading any chunk when the chunk sizes already add up to more than 2 GiB."""
    metadata = common.read_metadata_unchecked(source)
    check_version(metadata)
    total = sum(info.size for info in metadata.chunks)
    if refuse_over_limit and total > PROTOBUF_LIMIT:
        raise too_big(source, total, exact=False)
    message = message_class()
    with riegeli.RecordReader(source) as reader, progress(args, "merging", total) as bar:
        Merger(_CountingChunks(reader, metadata.chunks, bar)).merge(metadata.message, message)
    return message


def run(args) -> int:
    message_class = message_types.resolve(args.type, args.descriptor_set)
    source, chunked = common.locate(args.input)
    common.check_output_folder(args.output)
    if chunked:
        message = merge_file(args, source, message_class, refuse_over_limit=True)
    else:
        message = files.read(source, message_class)
    size = object_size(message)
    if size > PROTOBUF_LIMIT:
        raise too_big(source, size, exact=True)
    common.write_atomically(args.output, message.SerializeToString(deterministic=True))
    common.say(args, f"wrote {args.output}: {common.human(size)} ({message_class.DESCRIPTOR.full_name})")
    return common.EXIT_OK
