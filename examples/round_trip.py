"""Writes a 2.3 GiB GraphDef-like message as a chunked `.cpb`, reads one constant lazily, then all of it.

python examples/round_trip.py OUTPUT_DIR
"""

from __future__ import annotations

import argparse
import os
import time

import proto_splitter as ps
from proto_splitter.testing.graphs import assert_graphs_equal, graph_def_like
from proto_splitter.testing.test_message3_pb2 import Graph


def timed(label: str, action):
    start = time.perf_counter()
    result = action()
    print(f"{label:<42} {time.perf_counter() - start:7.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir")
    parser.add_argument("--constants", type=int, default=1150, help="number of 2 MiB constants (default 1150)")
    parser.add_argument("--max-chunk-size-mib", type=int, default=None, help="largest chunk (default: ~2 GiB)")
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)
    prefix = os.path.join(args.output_dir, "model")

    graph = timed(
        f"build {args.constants} constants + 10,000 nodes", lambda: graph_def_like(args.constants, small_nodes=10000)
    )
    limit = None if args.max_chunk_size_mib is None else args.max_chunk_size_mib << 20
    path = timed("ps.write", lambda: ps.write(graph, prefix, max_chunk_size=limit))
    chunks = f"{len(ps.read_metadata(path).chunks)} chunks" if path.endswith(".cpb") else "fits a plain .pb"
    print(f"wrote {path}: {os.path.getsize(path) / 2**30:.2f} GiB, {chunks}")
    part = timed(
        "ps.read_partial(node[42]) (reads its chunks only)", lambda: ps.read_partial(path, Graph, ["node[42]"])
    )
    assert part.node[42] == graph.node[42]
    restored = timed("ps.read (whole message)", lambda: ps.read(path, Graph))
    assert_graphs_equal(restored, graph)
    print("round trip equal")


if __name__ == "__main__":
    main()
