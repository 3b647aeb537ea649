"""Issue 4 figures: ps.write / ps.read of a 3 GiB GraphDef-like message against the baselines.

    python benchmarks/core_write_read.py [--constants 1500] [--small-nodes 100000] [--dir /tmp] [--options ...]

Message: `constants` distinct 2 MiB constants + `small_nodes` small nodes (default: about 3 GiB).
Targets: ps.write <= 1.3x (SerializeToString() + writing those bytes to a file); ps.read <= 1.5x TensorFlow's
C++ Merger::Read of the same file (when TensorFlow is installed); write peak RSS < 1.5x the message's own
in-memory size. Prints a table and writes JSON to benchmarks/results/core_write_read.json.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from measure import gib, measure
from workloads import ORACLE_PARENT

import proto_splitter as ps
from proto_splitter.splitter import object_size
from proto_splitter.testing.graphs import graph_def_like
from proto_splitter.testing.test_message3_pb2 import Graph

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ORACLE_PARENT))
from tf_oracle import TensorFlowMerger, unavailable_reason  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--constants", type=int, default=1500)
    parser.add_argument("--small-nodes", type=int, default=100_000)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--repeats", type=int, default=5, help="reads of each reader (median)")
    parser.add_argument("--options", default=None, help="Riegeli options for ps.write (default: library default)")
    parser.add_argument("--skip-baseline", action="store_true", help="skip SerializeToString (slow, ~3x memory)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ps-bench-", dir=args.dir))
    figures: dict[str, float] = {}
    stack = contextlib.ExitStack()  # the TensorFlow oracle's child process, when it runs
    try:
        with measure() as build:
            graph = graph_def_like(args.constants, small_nodes=args.small_nodes)
        message_rss = build.peak_rss - build.start_rss
        size = object_size(graph)
        figures.update(message_bytes=size, message_rss_bytes=message_rss, build_seconds=build.seconds)

        with measure() as write:
            path = ps.write(graph, work / "model", options=args.options)
        figures.update(
            write_seconds=write.seconds,
            write_peak_growth_bytes=write.peak_growth,
            write_peak_over_message_rss=(write.peak_rss - build.start_rss) / message_rss,
            file_bytes=os.path.getsize(path),
        )
        gc.collect()
        tf_merger = None
        if unavailable_reason() is None:
            tf_merger = stack.enter_context(TensorFlowMerger())
            tf_merger.read_size(work / "model", Graph)  # warm up: compiles the shim, loads TensorFlow
        ours, theirs = [], []
        for _ in range(args.repeats):  # alternating, so both readers see the same page cache state
            with measure() as read:
                restored = ps.read(path, Graph)
            assert len(restored.node) == len(graph.node)
            del restored
            gc.collect()
            ours.append(read)
            if tf_merger is not None:
                with measure() as tf_read:
                    tf_merger.read_size(work / "model", Graph)
                theirs.append(tf_read.seconds)
        read_seconds = statistics.median(m.seconds for m in ours)
        figures.update(read_seconds=read_seconds, read_peak_growth_bytes=max(m.peak_growth for m in ours))
        runs = {"read_runs_seconds": [m.seconds for m in ours]}
        if theirs:
            figures.update(
                tf_merger_read_seconds=statistics.median(theirs),
                read_over_tf_merger=read_seconds / statistics.median(theirs),
            )
            runs["tf_merger_runs_seconds"] = theirs
        with measure() as partial:
            ps.read_partial(path, Graph, ["node[7]"])
        figures["read_partial_seconds"] = partial.seconds

        if not args.skip_baseline:
            with measure() as baseline:
                data = graph.SerializeToString()
                with open(work / "baseline.pb", "wb") as out:
                    out.write(data)
                del data
            figures.update(
                baseline_serialize_write_seconds=baseline.seconds,
                baseline_peak_growth_bytes=baseline.peak_growth,
                write_over_baseline=write.seconds / baseline.seconds,
            )
    finally:
        stack.close()
        shutil.rmtree(work, ignore_errors=True)

    print(f"message: {gib(figures['message_bytes'])} serialized, {gib(figures['message_rss_bytes'])} in memory")
    for key, value in figures.items():
        print(f"  {key:<36} {gib(value) if key.endswith('bytes') else f'{value:.3f}'}")
    for key, values in runs.items():
        print(f"  {key:<36} {' '.join(f'{value:.2f}' for value in values)}")
    figures.update(runs)
    out_dir = REPO / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "core_write_read.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
