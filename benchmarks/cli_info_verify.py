"""`proto-splitter info` and `verify` on a large .cpb: info must finish in under a second (it reads only the
metadata and chunk headers); verify should run at disk-read speed, compared with reading the file's bytes: from
the page cache (warm) and, when this process may drop the page cache (root on Linux), from the disk (cold).

    python benchmarks/cli_info_verify.py [--constants 1500] [--small-nodes 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import proto_splitter as ps
from proto_splitter.testing.graphs import graph_def_like

TYPE = "proto_splitter.testing3.Graph"


def timed_command(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([shutil.which("proto-splitter"), *args], check=True, capture_output=True)
    return time.perf_counter() - start


def drop_page_cache() -> bool:
    """Flushes and drops Linux's page cache so the next read comes from the disk; False when not allowed."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as control:
            control.write("3\n")
        return True
    except OSError:
        return False


def read_bytes_seconds(path: str) -> float:
    """Reading the whole file in 8 MiB blocks: what the disk and page cache allow."""
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as handle:
        while handle.read(8 << 20):
            pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--constants", type=int, default=1500)
    parser.add_argument("--small-nodes", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cli-bench-"))
    try:
        path = ps.write(graph_def_like(args.constants, small_nodes=args.small_nodes), work / "model")
        size = os.path.getsize(path)
        figures = {
            "file_bytes": size,
            "read_bytes_seconds": read_bytes_seconds(path),
            "info_seconds": timed_command("info", path, "--type", TYPE),
            "info_json_seconds": timed_command("info", path, "--json"),
            "verify_seconds": timed_command("verify", path, "--quiet"),
        }
        figures["verify_over_read"] = figures["verify_seconds"] / figures["read_bytes_seconds"]
        if drop_page_cache():
            figures["cold_read_bytes_seconds"] = read_bytes_seconds(path)
            drop_page_cache()
            timed_command("verify", "--help")  # loads the program itself back into the cache, not the file
            figures["cold_verify_seconds"] = timed_command("verify", path, "--quiet")
            figures["cold_verify_over_read"] = figures["cold_verify_seconds"] / figures["cold_read_bytes_seconds"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"file: {size / 2**30:.2f} GiB")
    print(f"  info (tree, with --type)  {figures['info_seconds']:.2f} s   (target < 1 s)")
    print(f"  info --json               {figures['info_json_seconds']:.2f} s")
    print(
        f"  read the file's bytes     {figures['read_bytes_seconds']:.2f} s  "
        f"({size / figures['read_bytes_seconds'] / 1e6:.0f} MB/s)"
    )
    print(
        f"  verify                    {figures['verify_seconds']:.2f} s  "
        f"({size / figures['verify_seconds'] / 1e6:.0f} MB/s, {figures['verify_over_read']:.2f}x reading)"
    )
    if "cold_verify_seconds" in figures:
        print(
            f"  from the disk (page cache dropped): reading {figures['cold_read_bytes_seconds']:.2f} s "
            f"({size / figures['cold_read_bytes_seconds'] / 1e6:.0f} MB/s), verify "
            f"{figures['cold_verify_seconds']:.2f} s ({figures['cold_verify_over_read']:.2f}x reading)"
        )
    else:
        print("  (cold figures need permission to drop the page cache: run as root on Linux)")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "cli_info_verify.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
