"""Riegeli codec throughput: write and read (hashes verified) 1 GiB of 4 MiB records per option, the memory a
single large record costs to write and to read, and the codec side by side with Google's C++ riegeli (the
ArrayRecordWriter/Reader of the array-record wheel) on the same files: simple chunks of the 4 MiB records, and
transposed chunks of small protobuf messages (NodeDef-like, ~180 bytes), where ours must reach 0.5x Google's.

    python benchmarks/riegeli_throughput.py [--total 1G] [--record 4M] [--options uncompressed,zstd:1]
                                            [--compare-total 256M] [--compare-repeats 3] [--no-memory]
    python benchmarks/riegeli_throughput.py --compare-only --compare-total 16M --json out.json   # run.py's rows
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from measure import measure, parse_size

TARGETS = {("uncompressed", "write"): 500e6, ("uncompressed", "read"): 500e6, ("zstd:1", "write"): 250e6}
TRANSPOSED_TARGET = 0.5  # of Google's speed, transposed protobuf records, read and write
COMPARED = [("simple", "uncompressed"), ("simple", "zstd:1"), ("simple", "snappy")] + [
    ("transposed", f"transpose,{compression}") for compression in ("uncompressed", "zstd:1", "snappy", "brotli:1")
]
CHUNK = 1 << 20  # our default chunk size; Google's group_size is set to records of about this much


def records(total: int, record: int) -> list[bytes]:
    """Half random bytes (incompressible), half a repeating pattern: like float weights, partly compressible."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, record // 2, dtype=np.uint8).tobytes()
    return [noise + bytes([index % 251]) * (record - len(noise)) for index in range(total // record)]


def throughput(path: str, options: str, data: list[bytes]) -> dict:
    from proto_splitter import riegeli

    total = sum(map(len, data))
    with measure() as written:
        with riegeli.RecordWriter(path, options=options) as writer:
            writer.write_records(data)
    with measure() as read:
        with riegeli.RecordReader(path) as reader:
            count = sum(len(record) for record in reader.read_records())
    assert count == total
    return {"write": total / written.seconds, "read": total / read.seconds, "file_bytes": os.path.getsize(path)}


def protobuf_records(total: int) -> list[bytes]:
    """Small protobuf messages, what transposed chunks are for: NodeDef-like nodes with a name, an op, inputs and
    attributes holding a small tensor."""
    from proto_splitter.tf import node_def_pb2

    rng = np.random.default_rng(2)
    ops = ["Const", "AddV2", "MatMul", "Relu"]
    out: list[bytes] = []
    size = 0
    while size < total:
        index = len(out)
        node = node_def_pb2.NodeDef(name=f"model/layer_{index // 10}/op_{index}", op=ops[index % 4])
        node.input.extend(f"model/layer_{index // 10}/op_{index - k}" for k in range(1, index % 3 + 1))
        node.attr["T"].type = 1
        tensor = node.attr["value"].tensor
        tensor.dtype = 1
        tensor.tensor_shape.dim.add(size=16)
        tensor.float_val.extend(rng.random(16).tolist())
        node.attr["transpose_a"].b = bool(index % 2)
        out.append(node.SerializeToString())
        size += len(out[-1])
    return out


def best_seconds(function, repeats: int) -> float:
    """The fastest of `repeats` runs (this machine is shared: the fastest run is the least disturbed)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def compare_with_google(work: str, total: int, repeats: int) -> list[dict]:
    """Our writer and reader against Google's on the same records and files: each writes its file; each reads
    the file Google wrote (ours with copy=False, and with copies as Google's binding returns them; ours also
    reads its own file). Chunks of about 1 MiB on both sides. Empty when the array-record wheel is missing."""
    try:
        from array_record.python.array_record_module import ArrayRecordReader, ArrayRecordWriter
    except ImportError:
        return []
    from proto_splitter import riegeli

    data = {"simple": records(total, 4 << 20), "transposed": protobuf_records(total)}
    rows = []
    for kind, options in COMPARED:
        batch = data[kind]
        size = sum(map(len, batch))
        group = max(1, CHUNK // (size // len(batch)))
        ours, google = os.path.join(work, "ours.riegeli"), os.path.join(work, "google.riegeli")

        def our_write(batch=batch, options=options, ours=ours) -> None:
            with riegeli.RecordWriter(ours, options=options) as writer:
                writer.write_records(batch)

        def google_write(batch=batch, options=options, google=google, group=group) -> None:
            writer = ArrayRecordWriter(google, f"{options},group_size:{group}")
            for record in batch:
                writer.write(record)
            writer.close()

        def our_read(path: str, copy: bool = False, size=size) -> None:
            with riegeli.RecordReader(path) as reader:
                assert sum(len(record) for record in reader.read_records(copy=copy)) >= size

        def google_read(google=google, size=size, group=group) -> None:
            reader = ArrayRecordReader(google)
            count, got = reader.num_records(), 0
            for start in range(0, count, group):  # a chunk's records per call: the binding's fast path
                got += sum(map(len, reader.read(start, min(count, start + group))))
            reader.close()
            assert got == size

        seconds = {
            "write": best_seconds(our_write, repeats),
            "google_write": best_seconds(google_write, repeats),
            "read": best_seconds(lambda google=google: our_read(google), repeats),
            "google_read": best_seconds(google_read, repeats),
            "read_copies": best_seconds(lambda google=google: our_read(google, copy=True), repeats),
            "read_own": best_seconds(lambda ours=ours: our_read(ours), repeats),
        }
        row = {"chunks": kind, "options": options, "records": len(batch), "bytes": size}
        row.update({name: size / value for name, value in seconds.items()})
        row["write_ratio"], row["read_ratio"] = row["write"] / row["google_write"], row["read"] / row["google_read"]
        row["below_target"] = kind == "transposed" and min(row["write_ratio"], row["read_ratio"]) < TRANSPOSED_TARGET
        rows.append(row)
        os.unlink(ours)
        os.unlink(google)
    return rows


def comparison_table(rows: list[dict]) -> str:
    """The side-by-side rows as text (run.py appends them to its table)."""
    lines = [
        f"{'chunks':<10} {'options':<24} {'records':>8} {'write MB/s ours / Google':>25} {'x':>5} "
        f"{'read MB/s ours / Google':>24} {'x':>5} {'ours: copies':>12} {'own file':>9}"
    ]
    for row in rows:
        lines.append(
            f"{row['chunks']:<10} {row['options']:<24} {row['records']:>8} "
            f"{row['write'] / 1e6:>13.0f} / {row['google_write'] / 1e6:<9.0f} {row['write_ratio']:>5.2f} "
            f"{row['read'] / 1e6:>12.0f} / {row['google_read'] / 1e6:<9.0f} {row['read_ratio']:>5.2f} "
            f"{row['read_copies'] / 1e6:>12.0f} {row['read_own'] / 1e6:>9.0f}"
            + ("  below target (0.5x)" if row["below_target"] else "")
        )
    return "\n".join(lines)


def single_record_memory(path: str, record: int) -> dict:
    """Runs in a fresh process: peak RSS growth writing then reading one record of `record` bytes."""
    from proto_splitter import riegeli

    payload = np.random.default_rng(1).integers(0, 256, record, dtype=np.uint8).tobytes()
    with measure() as written:
        with riegeli.RecordWriter(path) as writer:
            writer.write_record(payload)
    del payload
    with measure() as read:
        with riegeli.RecordReader(path) as reader:
            assert len(reader.read_record()) == record
    return {"write_growth": written.peak_growth, "read_growth": read.peak_growth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total", default="1G")
    parser.add_argument("--record", default="4M")
    parser.add_argument("--options", default="uncompressed,zstd:1,brotli:1,snappy")
    parser.add_argument("--memory-record", default="512M", help="record size for the memory check")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--compare-total", default="256M", help="bytes of records per side-by-side row")
    parser.add_argument("--compare-repeats", type=int, default=3, help="runs per side-by-side figure (best kept)")
    parser.add_argument("--compare-only", action="store_true", help="only the side-by-side rows with Google's")
    parser.add_argument("--json", help="where to write the results (default benchmarks/results/)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="riegeli-bench-") as work:
        path = os.path.join(work, "bench.riegeli")
        if args.memory_child:
            print(json.dumps(single_record_memory(path, parse_size(args.memory_child))))
            return
        compared = compare_with_google(work, parse_size(args.compare_total), args.compare_repeats)
        if compared:
            print(f"Side by side with Google's riegeli (array-record), best of {args.compare_repeats}:")
            print(comparison_table(compared))
        else:
            print("array-record is not installed: no side-by-side rows with Google's riegeli")
        failed = any(row["below_target"] for row in compared)
        if args.compare_only:
            with open(args.json or os.devnull, "w") as out:
                json.dump({"google": compared}, out, indent=2)
            sys.exit(1 if failed else 0)
        data = records(parse_size(args.total), parse_size(args.record))
        results: dict = {"google": compared}
        print(f"{'options':<14} {'write MB/s':>10} {'read MB/s':>10} {'file GiB':>9}")
        for options in args.options.split(","):
            row = results[options] = throughput(path, options, data)
            print(
                f"{options:<14} {row['write'] / 1e6:>10.0f} {row['read'] / 1e6:>10.0f} "
                f"{row['file_bytes'] / 2**30:>9.2f}"
            )
            for (name, kind), target in TARGETS.items():
                if name == options and row[kind] < target:
                    failed = True
                    print(f"  below target: {kind} {row[kind] / 1e6:.0f} MB/s < {target / 1e6:.0f} MB/s")
        del data
        record = parse_size(args.memory_record)
        memory = json.loads(
            subprocess.run(
                [sys.executable, __file__, "--memory-child", args.memory_record],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        limit = 2 * record + (64 << 20)
        print(
            f"one {record >> 20} MiB record: write +{memory['write_growth'] >> 20} MiB, read "
            f"+{memory['read_growth'] >> 20} MiB (limit 2N + 64 MiB = {limit >> 20} MiB)"
        )
        failed |= max(memory.values()) > limit
        results["single_record_memory"] = dict(memory, record=record, limit=limit)
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    default = os.path.join(os.path.dirname(__file__), "results", "riegeli_throughput.json")
    with open(args.json or default, "w") as out:
        json.dump(results, out, indent=2)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
