"""benchmarks/grpc_stream.py end to end at a tiny size: every mode runs between two processes, the message
arrives intact, the figures are written."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import REPO


def test_grpc_stream_benchmark_runs(tmp_path):
    out = tmp_path / "grpc_stream.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "grpc_stream.py"),
            "--sizes",
            "16M",
            "--chunk",
            "4M",
            "--work",
            str(tmp_path),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]  # 1: a target missed at 16 MiB
    rows = json.loads(out.read_text())["rows"]
    assert [row["mode"] for row in rows] == ["socket", "upload", "upload_to_path", "download"]
    for row in rows:
        (run,) = row["runs"]
        assert run["receiver"]["digest"] == run["sender"]["digest"] and run["receiver"]["nodes"] > 8
        assert row["seconds"] == run["receiver"]["seconds"] > 0 and row["sender_peak_growth"] >= 0
    assert rows[2]["runs"][0]["receiver"]["file_bytes"] > 16 << 20
    assert [path.name for path in tmp_path.iterdir()] == ["grpc_stream.json"]  # the work folder is removed
