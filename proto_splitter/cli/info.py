"""`proto-splitter info FILE`: what a `.cpb` holds, from its metadata and chunk headers only."""

from __future__ import annotations

import json
from collections import Counter

from .. import extensions
from ..errors import RiegeliError
from ..proto import chunk_pb2
from ..riegeli.format import BLOCK_HEADER_SIZE, CHUNK_HEADER_SIZE
from . import common, field_sizes, inputs, message_types, tree
from .chunk_layout import ChunkLayout

EXAMPLES = """
  proto-splitter info model.cpb
  proto-splitter info model.cpb --type tensorflow.GraphDef        # field names instead of numbers
  proto-splitter info saved_model --json | jq '.chunks | length'  # a prefix finds saved_model.cpb / .pb
  proto-splitter info s3://bucket/model.cpb --storage-options '{"anon": true}'   # a URL: ranged reads
  proto-splitter info frozen.cpb --fields                          # bytes per field path, largest constants
"""
LARGEST_CONSTANTS = 20


def register(subparsers) -> None:
    parser = common.add_command(
        subparsers,
        "info",
        "show the chunk tree of a .cpb file (instant, reads only headers)",
        "Shows what a chunked proto holds: every chunk with its field path, index, size, chunk type and the\n"
        "compression of the Riegeli chunk storing it. Reads only the metadata record and chunk headers, so it\n"
        "is instant on files of any size. Field paths use names when the message type is known (--type),\n"
        "field numbers otherwise. For a plain .pb it says so, with its size.",
        EXAMPLES,
        [common.common_options(), common.type_options()],
    )
    parser.add_argument("file", metavar="FILE", help="a .cpb or .pb file, a prefix, or a URL (https://, s3://, ...)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the readable tree")
    parser.add_argument(
        "--fields",
        action="store_true",
        help="also show where the bytes are: size per field path (summed over list elements and map entries), "
        "and for GraphDefs and SavedModels the largest constants by node name; reads every record (the type "
        "comes from --type or the file's index)",
    )
    parser.add_argument("--depth", type=int, default=4, help="with --fields, field paths down to this depth")
    inputs.storage_options_option(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    message_class = message_types.resolve(args.type, args.descriptor_set, required=False)
    type_name = message_class.DESCRIPTOR.full_name if message_class else None
    with inputs.open_input(args, args.file) as source:
        if source.chunked:
            report = describe(source, message_class)
            if args.fields and message_class is None:
                message_class = message_types.named_by_index(source, common.read_metadata_unchecked(source))
        else:
            report = {"file": source.name, "format": "pb", "size": source.size(), "type": type_name}
    if args.fields:
        if message_class is None:
            raise common.CliError("--fields needs the message type: pass --type (this file's index names none)")
        report.update(where_the_bytes_are(args, message_class), type=message_class.DESCRIPTOR.full_name)
    if args.json:
        print(json.dumps(report, indent=2))
        return common.EXIT_OK
    if report["format"] == "pb":
        size = report["size"]
        print(
            f"{report['file']}: plain serialized protobuf message (.pb, not chunked), {common.human(size)} "
            f"({size} bytes)" + (f"\ntype: {type_name}" if type_name else "")
        )
    else:
        print_report(report)
    if args.fields:
        print_fields(report)
    return common.EXIT_OK


def where_the_bytes_are(args, message_class) -> dict:
    """`fields`: [{path, bytes}] sorted by path (a parent before its fields), and for GraphDefs and SavedModels
    `constants`: their count, their bytes and the largest ones."""
    from .. import handle
    from ..tensorflow import graphs
    from ..tensorflow.graph_file import GraphFile

    if args.depth < 1:
        raise common.CliError(f"--depth must be at least 1, got {args.depth}")
    with handle.open(args.file, message_class, storage_options=args.storage_options) as opened:
        sizes = field_sizes.field_sizes(opened, args.depth)
        found: dict = {"fields": [{"path": path, "bytes": sizes[path]} for path in sorted(sizes)]}
        if graphs.graph_kind(message_class) is not None:
            details = GraphFile(args.file, opened=opened).tensor_details()
            largest = sorted(details, key=lambda tensor: -tensor.bytes)[:LARGEST_CONSTANTS]
            found["constants"] = {
                "count": len(details),
                "bytes": sum(tensor.bytes for tensor in details),
                "largest": [tensor._asdict() for tensor in largest],
            }
    return found


def print_fields(report: dict) -> None:
    """The `--fields` part of the report as text: a tree of field paths with sizes, then the largest constants."""
    total = sum(field["bytes"] for field in report["fields"] if "." not in field["path"]) or 1
    print(f"\n{'SIZE':>10}  {'SHARE':>6}  FIELD PATH (summed over list elements and map entries)")
    for field in report["fields"]:
        depth = field["path"].count(".")
        name = field["path"].rsplit(".", 1)[-1]
        print(f"{common.human(field['bytes']):>10}  {field['bytes'] / total:>6.1%}  {'  ' * depth}{name}")
    constants = report.get("constants")
    if constants:
        print(
            f"\nconstants: {constants['count']}, {common.human(constants['bytes'])}; the largest "
            f"({len(constants['largest'])}):"
        )
        print(f"{'SIZE':>10}  {'DTYPE':<12}  {'SHAPE':<20}  NODE")
        for tensor in constants["largest"]:
            shape = "x".join(str(size) for size in tensor["shape"]) or "scalar"
            print(f"{common.human(tensor['bytes']):>10}  {tensor['dtype']:<12}  {shape:<20}  {tensor['name']}")


def describe(source: inputs.InputFile, message_class=None) -> dict:
    """Everything info shows, as a JSON-ready dict."""
    metadata = common.read_metadata_unchecked(source)
    descriptor = message_class.DESCRIPTOR if message_class else None
    root = tree.build(metadata.message, descriptor)
    chunk_paths = tree.chunk_paths(root)
    type_names = chunk_pb2.ChunkInfo.Type.Name
    chunks = []
    headers = [(info.offset, info.offset + CHUNK_HEADER_SIZE + BLOCK_HEADER_SIZE + 1) for info in metadata.chunks]
    with ChunkLayout(source) as layout, source.ahead(headers):
        for index, info in enumerate(metadata.chunks):
            entry = {
                "index": index,
                "type": type_names(info.type) if info.type in (0, 1, 2) else str(info.type),
                "size": info.size,
                "offset": info.offset,
                "path": chunk_paths.get(index),
                "compression": None,
                "riegeli_chunk": None,
            }
            try:
                summary = layout.chunk_holding(info.offset)
                entry["compression"] = summary.compression
                entry["riegeli_chunk"] = summary.to_json()
            except RiegeliError as error:
                entry["error"] = str(error)
            chunks.append(entry)
        file_size = layout.size
    referenced = Counter(tree.references(metadata.message))
    version = metadata.version
    return {
        "file": source.name,
        "format": "cpb",
        "size": file_size,
        "type": message_class.DESCRIPTOR.full_name if message_class else None,
        "version": {
            "splitter_version": version.splitter_version,
            "join_version": version.join_version,
            "bad_consumers": list(version.bad_consumers),
        },
        "extensions": ["value pieces"] if extensions.has_guard(metadata.message) else [],
        "chunk_count": len(metadata.chunks),
        "chunk_bytes": sum(info.size for info in metadata.chunks),
        "compression": dict(Counter(entry["compression"] or "?" for entry in chunks)),
        "chunks": chunks,
        "tree": root.to_json(),
        "unreferenced_chunks": [index for index in range(len(metadata.chunks)) if index not in referenced],
        "chunks_referenced_twice": sorted(index for index, count in referenced.items() if count > 1),
    }


def print_report(report: dict) -> None:
    print(f"{report['file']}: chunked proto (Riegeli/records), {common.human(report['size'])} ({report['size']} bytes)")
    print(f"type:         {report['type'] or 'unknown (field numbers shown; pass --type for names)'}")
    version = report["version"]
    print(f"version:      splitter {version['splitter_version']}, join {version['join_version']}")
    if report["extensions"]:
        print(
            "extensions:   values cut into pieces (written with cut_values=True): only proto-splitter reads this "
            "file, TensorFlow's Merger refuses it"
        )
    compression = ", ".join(f"{name} ({count})" for name, count in sorted(report["compression"].items()))
    print(
        f"chunks:       {report['chunk_count']}, {common.human(report['chunk_bytes'])} of chunk data; "
        f"compression: {compression}"
    )
    chunks = report["chunks"]
    print()
    print(f"{'CHUNK':>7}  {'TYPE':<7}  {'SIZE':>10}  {'COMPR':<7}  PATH")
    root = report["tree"]

    def show(node: dict, depth: int) -> None:
        index = node.get("chunk")
        label = ("  " * depth) + (node["path"] or "<root>") if depth else "<root>"
        if index is None:
            print(f"{'-':>7}  {'':<7}  {'':>10}  {'':<7}  {label}")
        elif 0 <= index < len(chunks):
            chunk = chunks[index]
            print(
                f"{index:>7}  {chunk['type']:<7}  {common.human(chunk['size']):>10}  "
                f"{chunk['compression'] or '?':<7}  {label}"
            )
        else:
            print(f"{index:>7}  {'MISSING':<7}  {'':>10}  {'':<7}  {label}  (no such chunk)")
        for child in node.get("fields", []):
            show(child, depth + 1)

    show(root, 0)
    if report["unreferenced_chunks"]:
        print(f"\nnot referenced by the tree: chunks {_ranges(report['unreferenced_chunks'])}")
    if report["chunks_referenced_twice"]:
        print(f"referenced more than once: chunks {_ranges(report['chunks_referenced_twice'])}")
    for chunk in chunks:
        if "error" in chunk:
            print(f"warning: chunk {chunk['index']} at position {chunk['offset']}: {chunk['error']}")


def _ranges(indices: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    parts, start = [], None
    for position, index in enumerate(indices):
        if start is None:
            start = index
        if position + 1 == len(indices) or indices[position + 1] != index + 1:
            parts.append(str(start) if start == index else f"{start}-{index}")
            start = None
    return ", ".join(parts)
