"""benchmarks/grpc_stream.py end to end at a tiny size: every mode runs between two processes, the message
arrives intact, the figures are written."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import REPO


def run_benchmark(script: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Runs benchmarks/<script> with `arguments` in a child process, its output captured."""
    command = [sys.executable, str(REPO / "benchmarks" / script), *arguments]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)


def test_grpc_stream_benchmark_runs(tmp_path):
    out = tmp_path / "grpc_stream.json"
    arguments = ["--sizes", "16M", "--chunk", "4M", "--work", str(tmp_path), "--out", str(out)]
    done = run_benchmark("grpc_stream.py", *arguments)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]  # 1: a target missed at 16 MiB
    rows = json.loads(out.read_text())["rows"]
    assert [row["mode"] for row in rows] == ["socket", "upload", "upload_to_path", "download"]
    for row in rows:
        (run,) = row["runs"]
        assert run["receiver"]["digest"] == run["sender"]["digest"] and run["receiver"]["nodes"] > 8
        assert row["seconds"] == run["receiver"]["seconds"] > 0 and row["sender_peak_growth"] >= 0
    assert rows[2]["runs"][0]["receiver"]["file_bytes"] > 16 << 20
    assert [path.name for path in tmp_path.iterdir()] == ["grpc_stream.json"]  # the work folder is removed


def test_grpc_raw_benchmark_moves_every_byte(tmp_path):
    """benchmarks/grpc_raw.py: the same .cpb bytes over a socket and over gRPC (generated stubs only), each
    transfer checked byte for byte by count, with the receiver's time, CPU and page faults."""
    out = tmp_path / "grpc_raw.json"
    done = run_benchmark(
        "grpc_raw.py", "--sizes", "8M", "--chunk", "1M", "--piece-size", "64K", "--repeats", "2", "--out", str(out)
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    socket_row, grpc_row = json.loads(out.read_text())["rows"]
    assert (socket_row["transport"], grpc_row["transport"]) == ("socket", "grpc")
    assert socket_row["bytes"] == grpc_row["bytes"] > 8 << 20
    assert len(grpc_row["runs"]) == 2 and grpc_row["over_socket"] > 0
    for run in socket_row["runs"] + grpc_row["runs"]:
        assert run["bytes"] == socket_row["bytes"] and run["seconds"] > 0 and run["minor_faults"] >= 0
