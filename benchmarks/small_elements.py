"""ps.write of a message of many small elements with a forced small chunk limit (issue 14's case: 2 million small
NodeDefs, 49 MB, max_chunk_size=16 MiB) against SerializeToString() + file write.

    python benchmarks/small_elements.py [--nodes 2000000] [--chunk 16M] [--repeats 7] [--dir DIR]

Each measurement runs in a fresh process that builds the GraphDef (proto_splitter.tf's copy of TensorFlow's) first,
unmeasured; the two operations alternate, and the ratio is the median of same-repeat pairs. Prints the figures and
writes JSON to benchmarks/results/small_elements.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import measure

HERE = Path(__file__).resolve().parent


def build(nodes: int):
    from proto_splitter.tf import graph_pb2

    graph = graph_pb2.GraphDef()
    for index in range(nodes):
        graph.node.add(name=f"n{index}", op="NoOp")
    return graph


def child(op: str, nodes: int, chunk: int, work: Path) -> dict:
    """One measurement (run in a fresh process)."""
    import proto_splitter as ps

    graph = build(nodes)
    os.sync()
    if op == "baseline":
        with measure() as taken:
            with open(work / "baseline.pb", "wb") as out:
                out.write(graph.SerializeToString())
        return {"seconds": taken.seconds, "bytes": os.path.getsize(work / "baseline.pb")}
    with measure() as taken:
        path = ps.write(graph, work / "model", max_chunk_size=chunk)
    assert path.endswith(".cpb")
    return {"seconds": taken.seconds, "bytes": os.path.getsize(path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=2_000_000)
    parser.add_argument("--chunk", default="16M")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--out", default=str(HERE / "results" / "small_elements.json"))
    parser.add_argument("--op", choices=["baseline", "write"], help=argparse.SUPPRESS)  # a child's measurement
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    chunk = int(args.chunk[:-1]) << 20 if args.chunk.upper().endswith("M") else int(args.chunk)
    if args.op:
        print(json.dumps(child(args.op, args.nodes, chunk, Path(args.work))))
        return
    work = Path(tempfile.mkdtemp(prefix="ps-small-", dir=args.dir))
    runs: dict[str, list[float]] = {"baseline": [], "write": []}
    try:
        for _ in range(args.repeats):
            for op in ("baseline", "write"):
                command = [sys.executable, __file__, "--op", op, "--work", str(work), "--nodes", str(args.nodes)]
                done = subprocess.run([*command, "--chunk", str(chunk)], capture_output=True, text=True, check=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                runs[op].append(result["seconds"])
    finally:
        for path in work.iterdir():
            path.unlink()
        work.rmdir()
    ratios = [ours / base for ours, base in zip(runs["write"], runs["baseline"], strict=True)]
    figures = {
        "nodes": args.nodes,
        "max_chunk_size": chunk,
        "baseline_median_seconds": statistics.median(runs["baseline"]),
        "write_median_seconds": statistics.median(runs["write"]),
        "write_over_baseline": statistics.median(ratios),
        "runs": runs,
    }
    print(
        f"{args.nodes} NodeDefs, max_chunk_size {chunk >> 20} MiB: ps.write {figures['write_median_seconds']:.3f} s, "
        f"SerializeToString+write {figures['baseline_median_seconds']:.3f} s, "
        f"ratio {figures['write_over_baseline']:.2f} (median of {args.repeats} pairs)"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
