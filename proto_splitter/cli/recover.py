"""`verify --recover OUT`: write the chunks that survive, with the chunk tree pruned of what is lost.

What is dropped, and why (the merge of the result must stay valid, not just the file):
- a lost chunk, and every piece of a value cut into several BYTES chunks when one piece is lost;
- a nested ChunkedMessage left with nothing (its own chunk lost and no surviving fields);
- a surviving chunked field whose path goes through a list index inside a message that lost content
  (a lost MESSAGE chunk at a prefix of its path, the root's chunk included): list elements may have been
  in the lost chunk, so the index could point at the wrong element or past the end. Fields reached by
  field numbers and map keys only are kept: merging creates them as needed.
"""

from __future__ import annotations

import os

from .. import field_paths, files, riegeli
from ..errors import ChunkedProtoError, ProtoSplitterError
from ..field_paths import FieldPath, Index
from ..proto import chunk_pb2
from . import common, message_types, scan, tree
from .inputs import InputFile
from .progress import progress

_BYTES, _MESSAGE = chunk_pb2.ChunkInfo.BYTES, chunk_pb2.ChunkInfo.MESSAGE


def path_key(field_tags) -> FieldPath:
    """A FieldIndex list as a FieldPath, for prefix comparisons (the empty path, which a lost chunk there makes
    a hole over everything, for tags that do not form a path)."""
    try:
        return field_paths.from_field_tags(field_tags)
    except ChunkedProtoError:
        return FieldPath()


def _depends(key: FieldPath, hole: FieldPath) -> bool:
    """Whether a chunked field at `key` may rely on list elements of the message at `hole`."""
    return len(key) > len(hole) and key.startswith(hole) and any(isinstance(step, Index) for step in key[len(hole) :])


def prune(
    chunked_message: chunk_pb2.ChunkedMessage, lost: set[int], infos
) -> tuple[chunk_pb2.ChunkedMessage | None, set[int]]:
    """The tree without lost chunks and what depends on them (None when nothing is left); and the chunk
    indices no longer referenced."""
    count = len(infos)

    def gone(index: int) -> bool:
        return index in lost or not 0 <= index < count

    own = chunked_message.chunk_index if chunked_message.HasField("chunk_index") else None
    own_lost = own is not None and gone(own)
    fields = list(chunked_message.chunked_fields)
    keys = [path_key(chunked_field.field_tag) for chunked_field in fields]
    subs: list = [None] * len(fields)
    drop: set[int] = set()
    holes: list[FieldPath] = [FieldPath()] if own_lost else []
    broken_values: set[FieldPath] = set()
    removed: set[int] = {own} if own_lost else set()
    for position, chunked_field in enumerate(fields):
        sub = chunked_field.message
        if sub.chunked_fields:
            pruned, sub_removed = prune(sub, lost, infos)
            removed |= sub_removed
            if pruned is None:
                drop.add(position)
                holes.append(keys[position])
            else:
                subs[position] = pruned
                if sub.HasField("chunk_index") and gone(sub.chunk_index):
                    holes.append(keys[position])
        elif sub.HasField("chunk_index") and gone(sub.chunk_index):
            drop.add(position)
            kind = infos[sub.chunk_index].type if 0 <= sub.chunk_index < count else chunk_pb2.ChunkInfo.UNSET
            if kind != _BYTES:
                holes.append(keys[position])
            if kind != _MESSAGE:
                broken_values.add(keys[position])
        else:
            subs[position] = sub
    for position, chunked_field in enumerate(fields):
        if keys[position] in broken_values and not chunked_field.message.chunked_fields:
            drop.add(position)
    changed = True
    while changed:
        changed = False
        for position in range(len(fields)):
            if position not in drop and any(_depends(keys[position], hole) for hole in holes):
                drop.add(position)
                holes.append(keys[position])
                changed = True
    result = chunk_pb2.ChunkedMessage()
    if own is not None and not own_lost:
        result.chunk_index = own
    for position, chunked_field in enumerate(fields):
        if position in drop:
            removed.update(tree.references(chunked_field.message))
        else:
            result.chunked_fields.add(field_tag=chunked_field.field_tag, message=subs[position])
    if own_lost and not result.chunked_fields:
        return None, removed
    return result, removed


def _renumber(chunked_message: chunk_pb2.ChunkedMessage, mapping: dict[int, int]) -> None:
    if chunked_message.HasField("chunk_index"):
        chunked_message.chunk_index = mapping[chunked_message.chunk_index]
    for chunked_field in chunked_message.chunked_fields:
        _renumber(chunked_field.message, mapping)


def recover(args, source: InputFile, metadata: chunk_pb2.ChunkMetadata, report: dict, message_class) -> dict:
    """Writes the surviving chunks and the pruned metadata to args.recover; returns what was kept and lost."""
    lost = set(report["lost_chunks"])
    pruned, removed = prune(metadata.message, lost, metadata.chunks)
    result = {
        "file": None,
        "chunk_count": len(metadata.chunks),
        "lost": sorted(lost),
        "dropped": sorted(index for index in removed - lost if 0 <= index < len(metadata.chunks)),
    }
    if pruned is None or not (pruned.HasField("chunk_index") or pruned.chunked_fields):
        result["error"] = "every chunk of the top level of the message is lost: nothing can be recovered"
        return result
    kept = sorted(set(tree.references(pruned)))
    mapping = {old: new for new, old in enumerate(kept)}
    _renumber(pruned, mapping)
    positions: dict[int, list[int]] = {}
    for old in kept:
        positions.setdefault(metadata.chunks[old].offset, []).append(old)
    infos: list = [None] * len(kept)
    destination = args.recover
    builder = message_types.index_builder(message_class, source, metadata)
    with (
        scan.open_reader(source, recovery=lambda region: True) as reader,
        riegeli.RecordWriter(destination, options=args.options) as writer,
        progress(args, "recovering", source.size()) as bar,
        source.front_to_back() as done_before,
    ):
        for record in reader.read_records():
            done_before(reader.last_pos.chunk_begin)
            bar.update(reader.last_pos.chunk_begin)
            olds = positions.pop(reader.last_pos.numeric, None)
            if olds is None:
                continue
            writer.write_record(record)
            for old in olds:
                infos[mapping[old]] = chunk_pb2.ChunkInfo(
                    type=metadata.chunks[old].type, size=len(record), offset=writer.last_pos.numeric
                )
                builder.add(mapping[old], record, metadata.chunks[old].type)
        if positions:
            raise ChunkedProtoError(f"{len(positions)} surviving chunks could not be read again during recovery")
        recovered = chunk_pb2.ChunkMetadata(chunks=infos, message=pruned)
        recovered.version.CopyFrom(metadata.version)
        files.write_trailer(writer, recovered, builder)
    result.update(file=destination, kept_chunks=len(kept), size=os.path.getsize(destination))
    if message_class is not None:
        name = message_class.DESCRIPTOR.full_name
        try:
            files.read(destination, message_class)
            result["merge"] = {"type": name, "ok": True}
        except ProtoSplitterError as error:
            result["merge"] = {"type": name, "ok": False, "error": " ".join(str(error).split())}
    return result


def print_report(result: dict, chunks: list, limit: int = 20) -> None:
    if result.get("file") is None:
        print(f"  recovery: {result['error']}")
        return
    print(
        f"  recovered: wrote {result['file']} ({common.human(result['size'])}): {result['kept_chunks']} of "
        f"{result['chunk_count']} chunks"
    )
    for label, indices in (
        ("lost (damaged or missing)", result["lost"]),
        ("dropped (they depend on lost data)", result["dropped"]),
    ):
        if not indices:
            continue
        print(f"    {label}: {len(indices)} chunks")
        for index in indices[:limit]:
            chunk = chunks[index]
            print(
                f"      chunk {index} ({chunk['type']}, {common.human(chunk['size'])}) "
                f"{chunk['path'] or '(not in the tree)'}"
            )
        if len(indices) > limit:
            print(f"      ... and {len(indices) - limit} more (--json lists them all)")
    merge_report = result.get("merge")
    if merge_report:
        verdict = "OK" if merge_report["ok"] else f"FAILED: {merge_report['error']}"
        print(f"    merge of the recovered file as {merge_report['type']}: {verdict}")
