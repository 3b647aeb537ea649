"""Riegeli codec throughput: write and read (hashes verified) 1 GiB of 4 MiB records per option, and the
memory a single large record costs to write and to read.

    python benchmarks/riegeli_throughput.py [--total 1G] [--record 4M] [--options uncompressed,zstd:1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from measure import measure, parse_size

TARGETS = {("uncompressed", "write"): 500e6, ("uncompressed", "read"): 500e6, ("zstd:1", "write"): 250e6}


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="riegeli-bench-") as work:
        path = os.path.join(work, "bench.riegeli")
        if args.memory_child:
            print(json.dumps(single_record_memory(path, parse_size(args.memory_child))))
            return
        data = records(parse_size(args.total), parse_size(args.record))
        results, failed = {}, False
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
    with open(os.path.join(os.path.dirname(__file__), "results", "riegeli_throughput.json"), "w") as out:
        json.dump(results, out, indent=2)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
