"""benchmarks/run.py --quick end to end: every operation measured at both tiny sizes, JSON and plot written."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STREAMS = ("socket_stream", "grpc_upload", "grpc_upload_to_path", "grpc_download")
OPTIONS = ["uncompressed", "zstd:1", "brotli:1", "snappy"]


def expected_operations(shape: str, tensorflow: bool, remote: bool) -> set[tuple[str, str | None]]:
    operations = {(op, options) for op in ("write", "read") for options in OPTIONS}
    operations |= {
        ("read_partial", None),
        ("open_get", None),
        ("copy", None),
        ("serialize_write", None),
        ("parse_read", None),
    }
    operations.add(("writer", "uncompressed"))
    if tensorflow:
        operations.add(("tf_merger", "uncompressed"))
    if shape == "graph":
        operations |= {(op, None) for op in ("onnx_save", "onnx_load", "safetensors_save", "safetensors_load")}
        operations |= {(op, "uncompressed") for op in STREAMS}
    if shape == "graph" and remote:
        operations |= {(op, "uncompressed") for op in ("write_s3", "read_s3", "read_http")}
        operations |= {("read_partial_s3", None), ("read_partial_http", None)}
    return operations


def test_quick_run(tmp_path):
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--out", str(out), "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ps.write uncompressed" in done.stdout  # the table

    document = json.loads((out / "results.json").read_text())
    tensorflow = not any(note.startswith("TensorFlow's Merger not measured") for note in document["notes"])
    assert tensorflow or not os.environ.get("CI"), "CI measures TensorFlow's Merger: " + str(document["notes"])
    remote = not any(note.startswith("HTTP and S3 rows not measured") for note in document["notes"])
    rows = document["rows"]
    for shape in ("graph", "small"):
        for size in ("16M", "32M"):
            found = {(row["op"], row["options"]) for row in rows if row["shape"] == shape and row["size_label"] == size}
            assert found == expected_operations(shape, tensorflow, remote), (shape, size)
    for row in rows:
        assert row["seconds"] > 0 and row["peak_rss"] > 0 and row["repeats"] == 1, row["label"]
    for row in rows:
        if row["op"] in ("write", "writer"):
            assert row["file_bytes"] > 0 and row["ratios"]["x_base"]["median"] > 0
    assert {fit["shape"] for fit in document["fits"]} == {"graph", "small"}
    assert (out / "results.png").stat().st_size > 10_000
    assert (out / "results.txt").read_text().startswith("shape")
    if importlib.util.find_spec("array_record") is not None:  # the codec against Google's, side by side
        codec = document["codec_against_google"]
        assert [row["chunks"] for row in codec] == ["simple"] * 3 + ["transposed"] * 4
        assert all(row["write"] > 0 and row["google_read"] > 0 for row in codec)
        assert "transpose,zstd:1" in (out / "results.txt").read_text()
    assert list(tmp_path.glob("ps-bench-*")) == []  # the work files are removed


def test_remote_quick_run(tmp_path):
    """benchmarks/remote.py --quick: every operation measured (the download-only yardstick too), requests capped,
    a partial read within its request and byte budgets (timings are not asserted: at 32 MiB fixed costs dominate
    them)."""
    out = tmp_path / "results"
    command = [sys.executable, str(REPO / "benchmarks" / "remote.py"), "--quick", "--moto", "ranged"]
    done = subprocess.run(
        [*command, "--out", str(out), "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    document = json.loads((out / "remote.json").read_text())
    rows = {(row["op"], row["moto"]): row for row in document["rows"]}
    assert set(rows) == {
        ("write", None),
        ("write_s3", "ranged"),
        ("read", None),
        ("read_http", None),
        ("read_s3", "ranged"),
        ("read_partial_http", None),
        ("read_partial_s3", "ranged"),
        ("download_http", None),
        ("download_s3", "ranged"),
    }, done.stdout[-3000:] + done.stderr[-3000:]
    assert not any(row["errors"] for row in rows.values())
    for key in (("read_http", None), ("read_s3", "ranged")):
        assert rows[key]["checks"]["cap"] and rows[key]["requests"] >= 3
    for key in (("read_partial_http", None), ("read_partial_s3", "ranged")):
        assert rows[key]["checks"] == {"requests": True, "bytes": True}
    for key in (("download_http", None), ("download_s3", "ranged")):  # the whole file, no target: a yardstick
        assert rows[key]["transferred"] >= rows[("read_http", None)]["transferred"] - (1 << 20)
        assert rows[key]["checks"] == {} and rows[key]["x_time"] > 0
    assert rows[("write_s3", "ranged")]["checks"] == {"growth": True}
    assert list(tmp_path.glob("ps-remote-*")) == []  # the work files are removed
