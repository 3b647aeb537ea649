"""`proto-splitter convert IN OUT --options zstd:3`: recompress a `.cpb` record by record, or re-chunk it."""

from __future__ import annotations

import os

from .. import files, riegeli
from ..errors import ChunkedProtoError, ProtoSplitterError
from ..index import Index
from ..proto import chunk_pb2
from . import common, merge, message_types, split
from .progress import progress

EXAMPLES = """
  proto-splitter convert model.cpb model.zstd.cpb --options zstd:3        # recompress, any message type
  proto-splitter convert model.cpb model.cpb --options uncompressed       # in place (atomic)
  proto-splitter convert model.cpb small.cpb --max-chunk-size 16M --type tensorflow.GraphDef   # re-chunk
"""


def register(subparsers) -> None:
    parser = common.add_command(
        subparsers,
        "convert",
        "recompress (record by record) or re-chunk a .cpb",
        "Rewrites a .cpb with other Riegeli options. Without --max-chunk-size it copies the chunks record by\n"
        "record into the new file and rewrites the positions in the ChunkMetadata: the message is never\n"
        "materialized, memory stays at about one chunk, and no message type is needed. With --max-chunk-size\n"
        "it merges the message (needs --type and memory for the whole message) and splits it again.",
        EXAMPLES,
        [common.common_options(), common.type_options()],
    )
    parser.add_argument("input", metavar="IN", help="a .cpb file (or a prefix)")
    parser.add_argument("output", metavar="OUT", help="the .cpb file to write (may be IN itself)")
    common.options_option(parser, "OUT")
    parser.add_argument(
        "--max-chunk-size",
        type=common.parse_size,
        default=None,
        metavar="SIZE",
        help="re-chunk to this largest chunk size (merges and re-splits; needs --type)",
    )
    split.add_cut_values_option(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    common.check_options(args.options)
    source, chunked = common.locate(args.input)
    common.check_output_folder(args.output)
    if args.max_chunk_size is not None or not chunked:
        if not args.type and not args.descriptor_set:
            why = "re-chunking (--max-chunk-size)" if chunked else f"{source} is a plain .pb: splitting it"
            raise common.CliError(f"{why} needs the message type (--type); recompressing a .cpb does not")
        return _rechunk(args, source, chunked)
    kept, dropped = recompress(args, source, args.output, args.options)
    note = f"; dropped {dropped} records no chunk refers to" if dropped else ""
    common.say(
        args,
        f"wrote {args.output}: {kept} chunks, {common.human(os.path.getsize(args.output))} "
        f"(options: {args.options or riegeli.DEFAULT_OPTIONS}){note}",
    )
    return common.EXIT_OK


def recompress(args, source: str, destination: str, options: str | None) -> tuple[int, int]:
    """Copies every chunk record of `source` into `destination` written with `options`, in file order, and
    writes a ChunkMetadata whose offsets point at the new positions. Returns (chunks, records dropped)."""
    metadata = common.read_metadata_unchecked(source)
    wanted: dict[int, list[int]] = {}
    for index, info in enumerate(metadata.chunks):
        wanted.setdefault(info.offset, []).append(index)
    converted = chunk_pb2.ChunkMetadata()
    converted.CopyFrom(metadata)
    converted.ClearField("index")  # a new one is written
    builder = message_types.index_builder(
        message_types.resolve(args.type, args.descriptor_set, required=False), source, metadata
    )
    dropped = -1 - old_index_records(source, metadata)  # the old metadata and index records are not copied
    with (
        riegeli.RecordReader(source) as reader,
        riegeli.RecordWriter(destination, options=options) as writer,
        progress(args, "converting", reader.size()) as bar,
    ):
        for record in reader.read_records():
            position = reader.last_pos
            bar.update(position.chunk_begin)
            indices = wanted.pop(position.numeric, None)
            if indices is None:
                dropped += 1
                continue
            for index in indices:
                expected = metadata.chunks[index].size
                if expected and expected != len(record):
                    raise ChunkedProtoError(
                        f"chunk {index} at position {position.numeric} has {len(record)} "
                        f"bytes, its ChunkInfo says {expected}"
                    )
            writer.write_record(record)
            for index in indices:
                converted.chunks[index].offset = writer.last_pos.numeric
                builder.add(index, record, metadata.chunks[index].type)
        if wanted:
            missing = sorted(index for indices in wanted.values() for index in indices)
            raise ChunkedProtoError(
                f"{len(missing)} chunks point at positions holding no record (chunk "
                f"{missing[0]} at {metadata.chunks[missing[0]].offset}); "
                "run `proto-splitter verify` on it"
            )
        files.write_trailer(writer, converted, builder)
    return len(metadata.chunks), max(dropped, 0)


def old_index_records(path: str, metadata: chunk_pb2.ChunkMetadata) -> int:
    """How many records of the file at `path` are its index's (0 when it has none or it cannot be read)."""
    if not metadata.HasField("index"):
        return 0
    try:
        with riegeli.RecordReader(path) as reader:
            index = Index.load(reader, metadata, reader.read_last_record())
    except ProtoSplitterError:
        return 0
    return 1 + sum(1 for table in index.key_tables.values() if table.record_size)


def _rechunk(args, source: str, chunked: bool) -> int:
    message_class = message_types.resolve(args.type, args.descriptor_set)
    if chunked:
        message = merge.merge_file(args, source, message_class)
    else:
        message = files.read(source, message_class)
    count, size = split.write_cpb(args, message, args.output, args.max_chunk_size, args.options)
    common.say(
        args,
        f"wrote {args.output}: {count} chunks, {common.human(os.path.getsize(args.output))} "
        f"({message_class.DESCRIPTOR.full_name}, {common.human(size)} merged and re-split)",
    )
    return common.EXIT_OK
