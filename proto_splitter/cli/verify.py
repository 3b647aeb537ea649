"""`proto-splitter verify FILE`: every hash, the metadata against the chunks, and (with --type) the merge."""

from __future__ import annotations

import json
import time
from collections import Counter

from google.protobuf.message import DecodeError

from .. import files, wire
from ..errors import ProtoSplitterError
from ..index import Index
from ..merger import SUPPORTED_JOIN_VERSION
from ..proto import chunk_pb2
from . import common, inputs, merge, message_types, recover, scan, tree
from .progress import progress

EXAMPLES = """
  proto-splitter verify model.cpb                               # exit 0 when sound, 1 when damaged
  proto-splitter verify model.cpb --type tensorflow.GraphDef    # also merges it, to check the message type
  proto-splitter verify model.cpb --json | jq .damaged_regions
  proto-splitter verify broken.cpb --recover saved.cpb          # write what survives, say what was lost
  proto-splitter verify https://host/model.cpb                  # a URL: read by bounded ranged requests
"""


def register(subparsers) -> None:
    parser = common.add_command(
        subparsers,
        "verify",
        "check hashes, metadata and chunks; recover a damaged .cpb",
        "Reads every record, checking every Riegeli hash (damaged chunks are skipped and listed as byte\n"
        "ranges), checks that each ChunkInfo of the metadata points at a record of its stated size and that the\n"
        "chunk tree refers to existing chunks, and with --type merges the message. Exit code 0 when the file\n"
        "is sound, 1 otherwise, with one line per damaged region and per problem.\n"
        "--recover OUT writes the chunks that survive and a metadata pruned of the fields whose chunks are\n"
        "lost (and of those that depend on them), and lists what was lost.",
        EXAMPLES,
        [common.common_options(), common.type_options()],
    )
    parser.add_argument("file", metavar="FILE", help="a .cpb (or .pb) file, a prefix, or a URL (https://, s3://, ...)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--recover", metavar="OUT", help="write what can be saved to OUT (a .cpb)")
    common.options_option(parser, "the --recover output")
    inputs.storage_options_option(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    message_class = message_types.resolve(args.type, args.descriptor_set, required=False)
    common.check_options(args.options)
    with inputs.open_input(args, args.file) as source:
        return _verify(args, source, message_class)


def _verify(args, source: inputs.InputFile, message_class) -> int:
    if not source.chunked:
        if args.recover:
            raise common.CliError(f"{source.name} is a plain .pb: --recover works on chunked .cpb files")
        return _verify_plain(args, source, message_class)
    if args.recover:
        common.check_output_folder(args.recover)
    start = time.monotonic()
    metadata, where = scan.try_read_metadata(source)
    with progress(args, "verifying", source.size()) as bar:
        result = scan.scan(source, bar)
    seconds = time.monotonic() - start
    report = check(source, result, metadata, where, message_class)
    report["seconds"] = round(seconds, 3)
    if report["ok"] and message_class is not None:
        report["merge"] = _merge_check(args, source, message_class)
        report["ok"] = report["merge"]["ok"]
    elif message_class is not None:
        report["merge"] = {
            "type": message_class.DESCRIPTOR.full_name,
            "ok": None,
            "skipped": "the file is damaged or inconsistent",
        }
    if args.recover:
        if metadata is None:
            report["recovered"] = {
                "file": None,
                "error": "the ChunkMetadata (the file's last record) is lost, so "
                "no chunk can be placed: nothing can be recovered",
            }
        else:
            report["recovered"] = recover.recover(args, source, metadata, report, message_class)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return common.EXIT_OK if report["ok"] else common.EXIT_FAILED


def check(source: inputs.InputFile, result: scan.Scan, metadata, where, message_class) -> dict:
    """Compares the metadata with the records found; returns the report (without the merge check)."""
    regions = [
        {
            "begin": region.begin,
            "end": region.end,
            "size": region.end - region.begin,
            "message": region.message,
            "chunks": [],
        }
        for region in result.regions
    ]
    problems: list[dict] = []
    notes: list[str] = []
    lost: set[int] = set()
    chunk_paths: dict[int, str] = {}
    report = {
        "file": source.name,
        "format": "cpb",
        "size": result.size,
        "type": message_class.DESCRIPTOR.full_name if message_class else None,
        "records": len(result.records),
        "record_bytes": result.record_bytes,
        "damaged_regions": regions,
        "problems": problems,
        "notes": notes,
        "chunk_count": None,
        "lost_chunks": [],
        "chunks": [],
        "merge": None,
    }
    if metadata is None:
        problems.append(
            {"kind": "metadata", "message": f"the ChunkMetadata (the file's last record) cannot be read: {where}"}
        )
    else:
        descriptor = message_class.DESCRIPTOR if message_class else None
        chunk_paths = tree.chunk_paths(tree.build(metadata.message, descriptor))
        report["chunk_count"] = len(metadata.chunks)
        for index, info in enumerate(metadata.chunks):
            found = result.records.get(info.offset)
            if info.offset == where:
                problems.append(
                    {
                        "kind": "chunk",
                        "chunk": index,
                        "message": f"chunk {index} points at the metadata record itself ({where})",
                    }
                )
                lost.add(index)
            elif found is None:
                region = result.region_holding(info.offset)
                if region is not None:
                    regions[result.regions.index(region)]["chunks"].append(index)
                else:
                    problems.append(
                        {
                            "kind": "chunk",
                            "chunk": index,
                            "message": f"chunk {index}: its ChunkInfo points at position {info.offset}, "
                            "where the file holds no record",
                        }
                    )
                lost.add(index)
            elif info.size and found != info.size:
                problems.append(
                    {
                        "kind": "chunk",
                        "chunk": index,
                        "message": f"chunk {index} at position {info.offset} has {found} bytes, its "
                        f"ChunkInfo says {info.size}",
                    }
                )
                lost.add(index)
        _check_tree(metadata, problems, notes)
        if metadata.version.join_version > SUPPORTED_JOIN_VERSION:
            notes.append(
                f"the metadata asks for merger version {metadata.version.join_version}; this library "
                f"merges version {SUPPORTED_JOIN_VERSION}"
            )
        names = chunk_pb2.ChunkInfo.Type.Name
        report["chunks"] = [
            {
                "index": index,
                "type": names(info.type) if info.type in (0, 1, 2) else str(info.type),
                "size": info.size,
                "offset": info.offset,
                "path": chunk_paths.get(index),
                "lost": index in lost,
            }
            for index, info in enumerate(metadata.chunks)
        ]
        index_records = _check_index(source, metadata, problems, notes)
        report["index_records"] = len(index_records)
        unaccounted = set(result.records) - {info.offset for info in metadata.chunks} - {where} - index_records
        if unaccounted:
            notes.append(f"{len(unaccounted)} records are not chunks of the message (no ChunkInfo points at them)")
    report["lost_chunks"] = sorted(lost)
    report["ok"] = not regions and not problems
    return report


def _check_index(source: inputs.InputFile, metadata: chunk_pb2.ChunkMetadata, problems: list, notes: list) -> set[int]:
    """Checks that the file's index describes its metadata; returns the positions of the index's records."""
    if not metadata.HasField("index"):
        notes.append("the file has no index: ps.open scans it once when it opens it")
        return set()
    try:
        with scan.open_reader(source) as reader:
            index = Index.load(reader, metadata, reader.read_last_record())
    except ProtoSplitterError as error:
        problems.append({"kind": "index", "message": f"the index cannot be used: {' '.join(str(error).split())}"})
        return {metadata.index.offset}
    tables = [table.record_offset for table in index.key_tables.values() if table.record_size]
    return {metadata.index.offset, *tables}


def _check_tree(metadata: chunk_pb2.ChunkMetadata, problems: list, notes: list) -> None:
    counts = Counter(tree.references(metadata.message))
    count = len(metadata.chunks)
    for index in sorted(counts):
        if not 0 <= index < count:
            problems.append(
                {
                    "kind": "tree",
                    "chunk": index,
                    "message": f"the chunk tree refers to chunk {index}, but there are {count} chunks",
                }
            )
        elif counts[index] > 1:
            problems.append(
                {
                    "kind": "tree",
                    "chunk": index,
                    "message": f"the chunk tree refers to chunk {index} {counts[index]} times",
                }
            )
    unreferenced = [index for index in range(count) if index not in counts]
    if unreferenced:
        notes.append(f"{len(unreferenced)} chunks are not referenced by the tree (first: chunk {unreferenced[0]})")


def _merge_check(args, source: inputs.InputFile, message_class) -> dict:
    name = message_class.DESCRIPTOR.full_name
    try:
        message = merge.merge_file(args, source, message_class)
        fields = len(message.ListFields())
        del message
    except (ProtoSplitterError, DecodeError, RecursionError) as error:
        return {"type": name, "ok": False, "error": " ".join(str(error).split())}
    return {"type": name, "ok": True, "top_level_fields": fields}


def _verify_plain(args, source: inputs.InputFile, message_class) -> int:
    """A .pb has no hashes: check that it parses (--type) or that its top level is well-formed wire format."""
    data = source.read_at(0, source.size())
    path = source.name
    report = {"file": path, "format": "pb", "size": len(data), "type": None, "ok": True, "problems": []}
    if message_class is not None:
        report["type"] = message_class.DESCRIPTOR.full_name
        try:
            files.read(data, message_class)
        except (ProtoSplitterError, DecodeError) as error:
            report["ok"] = False
            report["problems"].append({"kind": "parse", "message": " ".join(str(error).split())})
    else:
        try:
            fields = sum(1 for _ in wire.scan(memoryview(data), 0, len(data)))
            report["top_level_fields"] = fields
        except ProtoSplitterError as error:
            report["ok"] = False
            report["problems"].append({"kind": "wire", "message": f"not well-formed protobuf wire format: {error}"})
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        verdict = "OK" if report["ok"] else "DAMAGED"
        print(f"{path}: {verdict} (plain .pb, {common.human(len(data))}; .pb files carry no checksums)")
        if message_class is not None and report["ok"]:
            print(f"  parses as {report['type']}")
        elif report["ok"]:
            print(f"  well-formed at the top level ({report['top_level_fields']} fields); pass --type to parse it")
        for problem in report["problems"]:
            print(f"  problem: {problem['message']}")
    return common.EXIT_OK if report["ok"] else common.EXIT_FAILED


def print_report(report: dict) -> None:
    chunks = report["chunks"]
    if report["ok"]:
        rate = report["size"] / max(report["seconds"], 1e-6)
        print(f"{report['file']}: OK")
        print(
            f"  {report['records']} records, {common.human(report['record_bytes'])} in "
            f"{common.human(report['size'])}; every hash verified in {report['seconds']:.2f} s "
            f"({common.human(rate)}/s)"
        )
        print(
            f"  metadata: {report['chunk_count']} chunks, each at a record of its stated size; the tree "
            "refers to each chunk at most once"
        )
        if report.get("index_records"):
            print(f"  index: {report['index_records']} records, made for this metadata")
    else:
        parts = []
        if report["damaged_regions"]:
            parts.append(
                f"{len(report['damaged_regions'])} damaged region{'s' if len(report['damaged_regions']) != 1 else ''}"
            )
        if report["problems"]:
            parts.append(f"{len(report['problems'])} problem{'s' if len(report['problems']) != 1 else ''}")
        verdict = "DAMAGED" if parts else "FAILED"
        if report.get("merge") and report["merge"]["ok"] is False:
            parts.append(f"does not merge as {report['merge']['type']}")
        print(f"{report['file']}: {verdict} ({', '.join(parts)})")
    for region in report["damaged_regions"]:
        print(
            f"  damaged: bytes {region['begin']}..{region['end'] - 1} ({common.human(region['size'])}): "
            f"{region['message']}"
        )
        for index in region["chunks"]:
            print(f"    lost: {_describe_chunk(chunks[index])}")
        if not region["chunks"] and report["chunk_count"] is not None:
            print("    (no chunk of the message lies there)")
    for problem in report["problems"]:
        print(f"  problem: {problem['message']}")
    for note in report["notes"]:
        print(f"  note: {note}")
    if report["lost_chunks"]:
        lost_bytes = sum(chunks[index]["size"] for index in report["lost_chunks"])
        total = sum(chunk["size"] for chunk in chunks)
        print(
            f"  lost chunks: {len(report['lost_chunks'])} of {report['chunk_count']} "
            f"({common.human(lost_bytes)} of {common.human(total)} of chunk data)"
        )
    merge_report = report.get("merge")
    if merge_report:
        if merge_report["ok"]:
            print(f"  merge as {merge_report['type']}: OK")
        elif merge_report["ok"] is None:
            print(f"  merge as {merge_report['type']}: not tried ({merge_report['skipped']})")
        else:
            print(f"  merge as {merge_report['type']}: FAILED: {merge_report['error']}")
    recovered = report.get("recovered")
    if recovered:
        recover.print_report(recovered, chunks)


def _describe_chunk(chunk: dict) -> str:
    where = chunk["path"] or "(not in the tree)"
    return f"chunk {chunk['index']} ({chunk['type']}, {common.human(chunk['size'])}) {where}"
