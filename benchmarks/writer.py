"""Issue 14 figures: ps.Writer writing a GraphDef larger than memory, against a plain copy of the same bytes.

    python benchmarks/writer.py [--size 20G] [--chunk 64M] [--constant 4M] [--dir DIR] [--options uncompressed]

The GraphDef (proto_splitter.tf's copy of TensorFlow's) holds `size` bytes: 4 MiB float32 constants, written from
numpy memory through the Writer's buffers (windows of one random pool, so no two neighbours repeat), each followed by
small AddV2 nodes carrying 1/32 of the bytes (extend()). Measured in this process, one after another:
  write      ps.Writer: time, and peak RSS growth sampled every 5 ms; target <= 512 MiB + 2 x max_chunk_size, and
             time <= 1.5x `copy`
  copy       shutil.copyfile of the file written (same size, same disk, same run), then deleted
  read back  every node read back element by element (proto_splitter.testing.elements: a chunk and an element in
             memory), every constant's bytes compared with what was written; peak RSS growth, same bound
  verify     `proto-splitter verify` of the file (a child process: its peak RSS)
os.sync() runs before each step so that earlier writes are flushed first. The file is deleted at the end. Prints a
table and writes JSON to benchmarks/results/writer.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from measure import gib, measure

import proto_splitter as ps
from proto_splitter.testing.elements import iter_elements
from proto_splitter.tf import graph_pb2, node_def_pb2, types_pb2, versions_pb2

HERE = Path(__file__).resolve().parent
MIB = 1 << 20
UNITS = {"K": 1 << 10, "M": MIB, "G": 1 << 30}
SMALL_FRACTION = 32  # the small nodes carry 1/32 of the bytes
POOL_WINDOWS = 16
CONTENT = "attr['value'].tensor.tensor_content"


def parse_size(text: str) -> int:
    unit = text[-1].upper()
    return int(float(text[:-1]) * UNITS[unit]) if unit in UNITS else int(text)


class Graph:
    """The benchmark's GraphDef, produced piece by piece: constant i is window i % 16 of a random pool."""

    def __init__(self, size: int, constant: int) -> None:
        self.constant = constant
        self.count = max(1, size * (SMALL_FRACTION - 1) // SMALL_FRACTION // constant)
        self.pool = np.random.default_rng(0).standard_normal((POOL_WINDOWS + 1) * constant // 4, dtype=np.float32)
        small_bytes = size // SMALL_FRACTION // self.count
        template = node_def_pb2.NodeDef(name="add_0000000", op="AddV2", input=["const_0000000", "add_0000000"])
        template.attr["T"].type = types_pb2.DT_FLOAT
        self.small = [node_def_pb2.NodeDef() for _ in range(max(1, small_bytes // (template.ByteSize() + 2)))]
        for index, node in enumerate(self.small):
            node.CopyFrom(template)
            node.name = f"add_{index:07d}"

    def weights(self, index: int) -> np.ndarray:
        """Constant `index`: a float32 view of the pool (never copied)."""
        start = (index % POOL_WINDOWS) * self.constant // 4 + index % 7
        return self.pool[start : start + self.constant // 4]

    def constant_node(self, index: int) -> node_def_pb2.NodeDef:
        """Constant `index` without its content (which goes as a buffer)."""
        node = node_def_pb2.NodeDef(name=f"const_{index}", op="Const")
        node.attr["dtype"].type = types_pb2.DT_FLOAT
        tensor = node.attr["value"].tensor
        tensor.dtype = types_pb2.DT_FLOAT
        tensor.tensor_shape.dim.add(size=self.constant // 4)
        return node

    def write(self, prefix: Path, chunk: int, options: str) -> str:
        with ps.Writer(prefix, graph_pb2.GraphDef, max_chunk_size=chunk, options=options) as writer:
            writer.set("versions", versions_pb2.VersionDef(producer=1987, min_consumer=12))
            for index in range(self.count):
                writer.append("node", self.constant_node(index), buffers={CONTENT: self.weights(index)})
                writer.extend("node", self.small)
        assert writer.path is not None
        return writer.path

    def check(self, path: str) -> int:
        """Reads the file back element by element; checks every constant; returns the node count."""
        nodes = constants = 0
        for node in iter_elements(path, graph_pb2.GraphDef, "node"):
            if node.op == "Const":
                content = np.frombuffer(node.attr["value"].tensor.tensor_content, np.float32)
                assert node.name == f"const_{constants}", node.name
                assert np.array_equal(content, self.weights(constants)), node.name
                constants += 1
            nodes += 1
        assert (constants, nodes) == (self.count, self.count * (1 + len(self.small)))
        return nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="20G", help="bytes of the GraphDef (default 20G)")
    parser.add_argument("--chunk", default="64M", help="max_chunk_size of the Writer")
    parser.add_argument("--constant", default="4M", help="bytes of each constant")
    parser.add_argument("--options", default="uncompressed", help="Riegeli options of the file")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the files go (needs 2x --size free)")
    parser.add_argument("--out", default=str(HERE / "results" / "writer.json"))
    args = parser.parse_args()
    size, chunk = parse_size(args.size), parse_size(args.chunk)
    bound = 512 * MIB + 2 * chunk
    free = shutil.disk_usage(args.dir).free
    if free < 2.1 * size:
        sys.exit(f"{args.dir} has {gib(free)} free; the file and its copy need {gib(2 * size)}")
    work = Path(tempfile.mkdtemp(prefix="ps-writer-", dir=args.dir))
    graph = Graph(size, parse_size(args.constant))
    figures: dict = {"size_bytes": size, "max_chunk_size": chunk, "memory_bound_bytes": bound, "options": args.options}
    try:
        os.sync()
        with measure() as written:
            path = graph.write(work / "model", chunk, args.options)
        file_bytes = os.path.getsize(path)
        os.sync()
        with measure() as copied:
            shutil.copyfile(path, work / "copy.bin")
        os.unlink(work / "copy.bin")
        os.sync()
        with measure() as read:
            nodes = graph.check(path)
        started = time.perf_counter()
        verify = subprocess.run(
            [sys.executable, "-m", "proto_splitter", "verify", path], capture_output=True, text=True, check=False
        )
        verify_seconds = time.perf_counter() - started
        verify_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # the only child process
        figures.update(
            file_bytes=file_bytes,
            nodes=nodes,
            constants=graph.count,
            write_seconds=written.seconds,
            write_peak_growth_bytes=written.peak_growth,
            copy_seconds=copied.seconds,
            write_over_copy=written.seconds / copied.seconds,
            read_back_seconds=read.seconds,
            read_back_peak_growth_bytes=read.peak_growth,
            verify_seconds=verify_seconds,
            verify_exit=verify.returncode,
            verify_peak_rss_bytes=verify_peak,
            verify_output=verify.stdout.strip().splitlines()[-3:],
            write_within_memory_bound=written.peak_growth <= bound,
            read_back_within_memory_bound=read.peak_growth <= bound,
            write_within_time_target=written.seconds <= 1.5 * copied.seconds,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for key, value in figures.items():
        shown = gib(value) if key.endswith("bytes") and isinstance(value, int) else value
        print(f"  {key:<32} {shown:.3f}" if isinstance(shown, float) else f"  {key:<32} {shown}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
