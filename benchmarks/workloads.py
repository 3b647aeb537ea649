"""The operations benchmarks/run.py measures, each run alone in a fresh process:

    python benchmarks/workloads.py OP --shape graph --size 268435456 --dir WORK [--options zstd:1] [--chunk N]

prints one JSON line: seconds, peak_rss (the process's peak during OP), start_rss (before OP), base_rss (after
imports, before building the input), bytes (what OP carried), plus OP's own figures. The input (message,
tensors) is built first and is not measured; only OP is.

Messages are GraphDef-like (proto_splitter.testing's Graph): shape "graph" holds 2 MiB constants (float32
noise, like weights) plus small nodes carrying 1/32 of the bytes; shape "graph4" holds 4 MiB constants and 8
small nodes per constant (a small root chunk: the remote benchmark's GraphDef of one chunk per constant); shape
"small" holds small nodes only. The small nodes come from testing.graphs.add_small_nodes once per case
("prepare", kept serialized as small.pb, since building millions of nodes in Python is slow); every other
process parses them back.

Remote operations read the uncompressed file over loopback HTTP (--http, the base URL of a server of the case's
folder) or from moto's S3 server (--s3, its endpoint; the object written by write_s3), and report the requests
they made: count, largest, bytes received.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from measure import measure

ORACLE_PARENT = Path(__file__).resolve().parents[1] / "tests"  # the project's TensorFlow oracle: tests/tf_oracle
MIB = 1 << 20
CONSTANT = 2 * MIB
CONSTANT_OF = {"graph": CONSTANT, "graph4": 2 * CONSTANT, "small": CONSTANT}
S3_BUCKET = "bench"
SMALL_NODE_BYTES = 61  # serialized size of one add_small_nodes node with 7-digit indices (about)
SMALL_NODE_RSS = 500  # in-memory bytes of one such node under upb (measured: about 490)
SMALL_FRACTION = 32  # shape "graph": small nodes carry 1/32 of the bytes
SMALL_PER_CONSTANT = 8  # shape "graph4": small nodes per constant
POOL_OFFSETS = 16  # constants are windows of a pool of 16 constants: no repeat within a compressor's window


def plan(shape: str, size: int) -> tuple[int, int]:
    """(constants, small nodes) making a message of about `size` serialized bytes."""
    if shape == "small":
        return 0, max(size // SMALL_NODE_BYTES, 1)
    if shape == "graph4":
        constants = max(size // CONSTANT_OF[shape], 1)
        return constants, constants * SMALL_PER_CONSTANT
    constants = max(size * (SMALL_FRACTION - 1) // SMALL_FRACTION // CONSTANT_OF[shape], 1)
    return constants, max((size - constants * CONSTANT_OF[shape]) // SMALL_NODE_BYTES, 0)


def estimated_rss(shape: str, size: int) -> int:
    """The message's in-memory size under upb, to skip cases this machine cannot hold."""
    constants, small = plan(shape, size)
    return constants * CONSTANT_OF[shape] + small * SMALL_NODE_RSS


def constant_contents(count: int, size: int = CONSTANT):
    """The bytes of each constant: index in the first 4 bytes (as graph_def_like), then normal float32 noise."""
    pool = np.random.default_rng(0).standard_normal((POOL_OFFSETS + 1) * size // 4, dtype=np.float32)
    pool = pool.view(np.uint8)
    for index in range(count):
        start = (index % POOL_OFFSETS) * size
        yield index.to_bytes(4, "little") + pool[start + 4 : start + size].tobytes()


def build_message(shape: str, size: int, work: Path):
    """The case's message: constants laid out as graph_def_like does, then the prepared small nodes."""
    from proto_splitter.testing.test_message3_pb2 import Graph

    constants, _ = plan(shape, size)
    graph = Graph(version=1)
    for index, content in enumerate(constant_contents(constants, CONSTANT_OF[shape])):
        node = graph.node.add(name=f"const_{index}", op="Const")
        node.attr["value"].tensor.content = content
        node.attr["value"].tensor.dtype = "DT_FLOAT"
        node.attr["value"].tensor.shape.append(CONSTANT_OF[shape] // 4)
        node.attr["dtype"].s = "DT_FLOAT"
    graph.MergeFromString((work / "small.pb").read_bytes())
    return graph


def build_tensors(shape: str, size: int) -> dict:
    """The constants of the message as float32 arrays: the same tensor bytes, for ONNX and safetensors."""
    constants, _ = plan(shape, size)
    return {
        f"const_{index}": np.frombuffer(content, np.float32)
        for index, content in enumerate(constant_contents(constants, CONSTANT_OF[shape]))
    }


def cpb_prefix(work: Path, options: str) -> Path:
    return work / options.replace(":", "-") / "model"


def fresh(*paths: Path) -> None:
    """Removes an earlier repeat's output: every write creates its file (overwriting in place is faster here)."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def op_prepare(args, work: Path) -> dict:
    from proto_splitter.testing.graphs import add_small_nodes
    from proto_splitter.testing.test_message3_pb2 import Graph

    constants, small = plan(args.shape, args.size)
    nodes = Graph()
    add_small_nodes(nodes, small, max(constants, 1))
    (work / "small.pb").write_bytes(nodes.SerializeToString())
    del nodes
    gc.collect()
    with measure() as built:
        message = build_message(args.shape, args.size, work)
    return {
        "seconds": built.seconds,
        "peak_rss": built.peak_rss,
        "start_rss": built.start_rss,
        "message_bytes": message.ByteSize(),
        "message_rss": built.peak_rss - built.start_rss,
        "nodes": len(message.node),
        "constants": constants,
    }


def op_write(args, work: Path, message) -> dict:
    import proto_splitter as ps

    prefix = cpb_prefix(work, args.options)
    fresh(prefix.parent)
    prefix.parent.mkdir()
    with measure() as taken:
        path = ps.write(message, prefix, max_chunk_size=args.chunk, options=args.options)
    assert path.endswith(".cpb"), path
    return {"measure": taken, "file_bytes": os.path.getsize(path)}


def op_read(args, work: Path) -> dict:
    import proto_splitter as ps
    from proto_splitter.testing.test_message3_pb2 import Graph

    path = f"{cpb_prefix(work, args.options)}.cpb"
    with measure() as taken:
        message = ps.read(path, Graph)
    assert len(message.node) == args.nodes, (len(message.node), args.nodes)
    return {"measure": taken, "file_bytes": os.path.getsize(path)}


def op_read_partial(args, work: Path) -> dict:
    """One constant (one small node for shape "small") from the middle of the file."""
    import proto_splitter as ps
    from proto_splitter.testing.test_message3_pb2 import Graph

    constants, _ = plan(args.shape, args.size)
    index = constants // 2 if constants else args.nodes // 2
    path = f"{cpb_prefix(work, args.options)}.cpb"
    with measure() as taken:
        part = ps.read_partial(path, Graph, [f"node[{index}]"])
    node = part.node[index]
    assert node.name == (f"const_{index}" if constants else f"add_{index}"), node.name
    return {"measure": taken, "bytes": node.ByteSize(), "file_bytes": os.path.getsize(path)}


def op_writer(args, work: Path, tensors: dict) -> dict:
    """ps.Writer of the same content as ps.write: the constants from their float32 arrays (buffers, never in a
    protobuf message), the small nodes parsed beforehand and written with extend()."""
    import proto_splitter as ps
    from proto_splitter.testing.test_message3_pb2 import Graph, Op

    small = Graph.FromString((work / "small.pb").read_bytes())
    prefix = work / "writer" / "model"
    fresh(prefix.parent)
    prefix.parent.mkdir()
    with measure() as taken:
        with ps.Writer(prefix, Graph, max_chunk_size=args.chunk, options=args.options) as writer:
            writer.set("version", 1)
            for name, array in tensors.items():
                node = Op(name=name, op="Const")
                node.attr["value"].tensor.dtype = "DT_FLOAT"
                node.attr["value"].tensor.shape.append(array.size)
                node.attr["dtype"].s = "DT_FLOAT"
                writer.append("node", node, buffers={"attr['value'].tensor.content": array})
            writer.extend("node", small.node)
    assert writer.path is not None
    return {"measure": taken, "file_bytes": os.path.getsize(writer.path)}


def op_open_get(args, work: Path) -> dict:
    """The node op_read_partial reads, through a handle: ps.open, then get (the get measured; the open too)."""
    import proto_splitter as ps
    from proto_splitter.testing.test_message3_pb2 import Graph

    constants, _ = plan(args.shape, args.size)
    index = constants // 2 if constants else args.nodes // 2
    path = f"{cpb_prefix(work, args.options)}.cpb"
    started = time.perf_counter()
    with ps.open(path, Graph) as handle:
        opened = time.perf_counter() - started
        with measure() as taken:
            node = handle.get(f"node[{index}]")
    assert node.name == (f"const_{index}" if constants else f"add_{index}"), node.name
    return {"measure": taken, "open_seconds": opened, "bytes": node.ByteSize(), "file_bytes": os.path.getsize(path)}


def op_serialize_write(args, work: Path, message) -> dict:
    fresh(work / "baseline.pb")
    with measure() as taken:
        data = message.SerializeToString()
        with open(work / "baseline.pb", "wb") as out:
            out.write(data)
        del data
    return {"measure": taken}


def op_parse_read(args, work: Path) -> dict:
    from proto_splitter.testing.test_message3_pb2 import Graph

    with measure() as taken:
        with open(work / "baseline.pb", "rb") as source:
            message = Graph.FromString(source.read())
    assert len(message.node) == args.nodes
    return {"measure": taken}


def op_tf_merger(args, work: Path) -> dict:
    """TensorFlow's C++ Merger::Read of our file (returns the merged size only) in the oracle's child process,
    whose peak RSS is measured; TensorFlow is loaded and the shim compiled by a warm-up merge of a tiny file first."""
    import proto_splitter as ps
    from proto_splitter.testing.graphs import graph_def_like
    from proto_splitter.testing.test_message3_pb2 import Graph

    sys.path.insert(0, args.oracle)
    from tf_oracle import TensorFlowMerger

    ps.write(graph_def_like(2, constant_size=256, small_nodes=4), work / "warmup", max_chunk_size=256)
    prefix = cpb_prefix(work, args.options)
    with TensorFlowMerger() as merger:
        merger.read_size(work / "warmup", Graph)
        with measure(pid=merger.pid) as taken:  # the merge runs in the oracle's child process
            merged = merger.read_size(prefix, Graph)
    return {"measure": taken, "bytes": merged, "file_bytes": os.path.getsize(f"{prefix}.cpb")}


def op_onnx_save(args, work: Path, tensors: dict) -> dict:
    import onnx
    from onnx import helper, numpy_helper

    initializers = [numpy_helper.from_array(array, name) for name, array in tensors.items()]
    tensors.clear()
    first = initializers[0].name
    graph = helper.make_graph(
        [helper.make_node("Identity", [first], ["out"])],
        "constants",
        [],
        [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, None)],
        initializers,
    )
    model = helper.make_model(graph)
    del initializers, graph
    fresh(work / "onnx")
    (work / "onnx").mkdir()
    with measure() as taken:
        onnx.save_model(model, str(work / "onnx" / "model.onnx"), save_as_external_data=True, location="weights.bin")
    return {"measure": taken, "file_bytes": os.path.getsize(work / "onnx" / "weights.bin")}


def op_onnx_load(args, work: Path) -> dict:
    import onnx

    with measure() as taken:
        model = onnx.load(str(work / "onnx" / "model.onnx"))
    loaded = sum(len(tensor.raw_data) for tensor in model.graph.initializer)
    assert loaded == args.constants * CONSTANT_OF[args.shape], loaded
    return {"measure": taken, "bytes": loaded}


def op_safetensors_save(args, work: Path, tensors: dict) -> dict:
    from safetensors.numpy import save_file

    fresh(work / "model.safetensors")
    with measure() as taken:
        save_file(tensors, str(work / "model.safetensors"))
    return {"measure": taken, "file_bytes": os.path.getsize(work / "model.safetensors")}


def op_safetensors_load(args, work: Path) -> dict:
    from safetensors.numpy import load_file

    with measure() as taken:
        tensors = load_file(str(work / "model.safetensors"))
    loaded = sum(array.nbytes for array in tensors.values())
    assert loaded == args.constants * CONSTANT_OF[args.shape], loaded
    return {"measure": taken, "bytes": loaded}


def op_copy(args, work: Path) -> dict:
    """shutil.copyfile of our uncompressed file (in-kernel on Linux; the source is in the page cache)."""
    source = f"{cpb_prefix(work, 'uncompressed')}.cpb"
    with measure() as taken:
        shutil.copyfile(source, work / "copy.bin")
    size = os.path.getsize(work / "copy.bin")
    os.unlink(work / "copy.bin")
    return {"measure": taken, "bytes": size}


def op_stream(args, work: Path) -> dict:
    """The message sent from one process to another (benchmarks/grpc_stream.py): the receiver's time and peak
    memory (its RSS when the first byte arrived as base), and the sender's peak growth."""
    import grpc_stream

    make = functools.partial(build_message, args.shape, args.size, work)
    options = None if args.options == "uncompressed" else args.options
    got = grpc_stream.run(STREAMS[args.op], make, args.chunk, options, work)
    send, recv = got["sender"], got["receiver"]
    if recv["digest"] != send["digest"]:
        raise SystemExit(f"{args.op}: the message received differs from the message sent")
    return {
        "seconds": recv["seconds"],
        "peak_rss": recv["peak_rss"],
        "start_rss": recv["start_rss"],
        "base_rss": recv["start_rss"],
        "bytes": send["message_bytes"],
        "sender_peak_growth": send["peak_growth"],
    }


STREAMS = {
    "socket_stream": "socket",
    "grpc_upload": "upload",
    "grpc_upload_to_path": "upload_to_path",
    "grpc_download": "download",
}


def remote_file(args, work: Path, store: str) -> tuple[str, dict]:
    """The URL of the uncompressed file over HTTP (served from the case's folder) or S3, and its storage_options.
    For S3, the client is set up first (s3fs imported, botocore's model loaded: once per process, about 0.3 s),
    so that what is measured is the read."""
    if store == "http":
        relative = f"{cpb_prefix(work, 'uncompressed')}.cpb".removeprefix(f"{work}/")
        return args.http + relative, {}
    import fsspec

    from proto_splitter.testing.moto_server import storage_options_for

    # moto completes a multi-GiB multipart upload in over a minute: past botocore's 60 s, a retry would fail
    options = dict(storage_options_for(args.s3), config_kwargs={"read_timeout": 900})
    fsspec.filesystem("s3", **options).connect()
    return f"s3://{S3_BUCKET}/model.cpb", options


def transfer(stats) -> dict:
    return {"requests": stats.requests, "transferred": stats.bytes, "largest_request": stats.largest_request}


def op_write_s3(args, work: Path, message) -> dict:
    """ps.write to moto's S3 (a multipart upload); s3fs is imported and its session opened by a small write first."""
    import proto_splitter as ps
    from proto_splitter.testing.graphs import graph_def_like

    url, options = remote_file(args, work, "s3")
    ps.write(graph_def_like(1, constant_size=1000), f"s3://{S3_BUCKET}/warm-up", storage_options=options)
    with measure() as taken:
        path = ps.write(message, url, max_chunk_size=args.chunk, options="uncompressed", storage_options=options)
    assert path == url, path
    return {"measure": taken, "peak_growth": taken.peak_growth, "chunk": args.chunk}


def _read_remote(args, work: Path, store: str) -> dict:
    import proto_splitter as ps
    from proto_splitter import remote
    from proto_splitter.testing.test_message3_pb2 import Graph

    url, options = remote_file(args, work, store)
    with measure() as taken:
        with remote.open_remote(url, storage_options=options) as file:
            message = ps.read(file, Graph)
    assert len(message.node) == args.nodes, (len(message.node), args.nodes)
    return {"measure": taken, "file_bytes": file.size(), "max_request": file.max_request, **transfer(file.stats)}


def _download_remote(args, work: Path, store: str) -> dict:
    """The whole file fetched as a whole read fetches it (requests of the default cap, the default window ahead,
    each piece copied out and dropped) with nothing else done: no hashes, no merge. What the server and the
    transfer alone cost, for comparison with the local read."""
    from proto_splitter import remote

    url, options = remote_file(args, work, store)
    with measure() as taken:
        with remote.open_remote(url, storage_options=options) as file:
            size, cap = file.size(), file.max_request
            piece = memoryview(bytearray(cap))
            ranges = [(start, min(size, start + cap)) for start in range(0, size, cap)]
            with file.plan(ranges) as plan:
                for index, (start, end) in enumerate(ranges):
                    file.read_into(start, piece[: end - start])
                    plan.release(index)
    return {"measure": taken, "file_bytes": size, "max_request": cap, **transfer(file.stats)}


def _read_partial_remote(args, work: Path, store: str) -> dict:
    """One constant from the middle of the file (as read_partial), with what it cost in requests and bytes."""
    import proto_splitter as ps
    from proto_splitter import remote
    from proto_splitter.testing.test_message3_pb2 import Graph

    url, options = remote_file(args, work, store)
    index = plan(args.shape, args.size)[0] // 2
    with measure() as taken:
        with remote.open_remote(url, storage_options=options) as file:
            part = ps.read_partial(file, Graph, [f"node[{index}]"])
    node = part.node[index]
    assert node.name == f"const_{index}", node.name
    metadata = ps.read_metadata(f"{cpb_prefix(work, 'uncompressed')}.cpb")
    return {
        "measure": taken,
        "bytes": node.ByteSize(),
        "constant_bytes": len(node.attr["value"].tensor.content),
        "metadata_bytes": metadata.ByteSize(),
        **transfer(file.stats),
    }


BUILDS_MESSAGE = {"write": op_write, "serialize_write": op_serialize_write, "write_s3": op_write_s3}
BUILDS_TENSORS = {"writer": op_writer, "onnx_save": op_onnx_save, "safetensors_save": op_safetensors_save}
READS = {
    "read": op_read,
    "read_partial": op_read_partial,
    "open_get": op_open_get,
    "parse_read": op_parse_read,
    "tf_merger": op_tf_merger,
    "onnx_load": op_onnx_load,
    "safetensors_load": op_safetensors_load,
    "copy": op_copy,
    "read_http": lambda args, work: _read_remote(args, work, "http"),
    "read_s3": lambda args, work: _read_remote(args, work, "s3"),
    "download_http": lambda args, work: _download_remote(args, work, "http"),
    "download_s3": lambda args, work: _download_remote(args, work, "s3"),
    "read_partial_http": lambda args, work: _read_partial_remote(args, work, "http"),
    "read_partial_s3": lambda args, work: _read_partial_remote(args, work, "s3"),
}
OPERATIONS = ["prepare", *BUILDS_MESSAGE, *BUILDS_TENSORS, *READS, *STREAMS]


def run(args) -> dict:
    import psutil

    work = Path(args.dir)
    base_rss = psutil.Process().memory_info().rss
    if args.op == "prepare":
        return dict(op_prepare(args, work), base_rss=base_rss)
    if args.op in STREAMS:
        return op_stream(args, work)
    if args.op in BUILDS_MESSAGE:
        result = BUILDS_MESSAGE[args.op](args, work, build_message(args.shape, args.size, work))
    elif args.op in BUILDS_TENSORS:
        result = BUILDS_TENSORS[args.op](args, work, build_tensors(args.shape, args.size))
    else:
        result = READS[args.op](args, work)
    taken = result.pop("measure")
    return dict(result, seconds=taken.seconds, peak_rss=taken.peak_rss, start_rss=taken.start_rss, base_rss=base_rss)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("op", choices=OPERATIONS)
    parser.add_argument("--shape", choices=sorted(CONSTANT_OF), required=True)
    parser.add_argument("--size", type=int, required=True, help="target serialized bytes of the message")
    parser.add_argument("--dir", required=True, help="the case's work folder (small.pb, files written/read)")
    parser.add_argument("--options", default="uncompressed", help="Riegeli options of the .cpb written/read")
    parser.add_argument("--chunk", type=int, default=64 * MIB, help="max_chunk_size of ps.write")
    parser.add_argument("--nodes", type=int, default=0, help="node count to check reads against")
    parser.add_argument("--constants", type=int, default=0, help="constant count to check tensor loads against")
    parser.add_argument("--oracle", default="", help="folder holding the tf_oracle package (for tf_merger)")
    parser.add_argument("--http", default="", help="base URL of a range server of --dir (remote reads over HTTP)")
    parser.add_argument("--s3", default="", help="endpoint of moto's S3 server (remote writes and reads over S3)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
