"""proto-splitter against baselines on this machine: one command, one table.

    python benchmarks/run.py --sizes 256M,1G,3G [--shapes graph,small] [--repeats 3] [--out benchmarks/results]
    python benchmarks/run.py --quick            # 16M,32M, one repeat: a smoke test of the whole pipeline

For each size and message shape ("graph": 2 MiB constants plus small nodes; "small": small nodes only) every
operation runs in a fresh process (benchmarks/workloads.py), which builds its input unmeasured and measures only
the operation: wall time and the process's peak RSS. Operations, in this order within each repeat:
  ps.write / ps.read for each --options (max_chunk_size --chunk forces .cpb at any size), each followed by
  TensorFlow's C++ Merger on the same file (tests/tf_oracle, when TensorFlow and g++ are there); ps.Writer of the same
  content (constants from numpy arrays, small nodes with extend(), uncompressed); ps.read_partial of
  one node of the uncompressed file, and the same node through a ps.open handle (its get measured, its open
  noted); shutil.copyfile of that file; SerializeToString+write and
  read+ParseFromString (messages < 2 GiB); onnx.save/load with external data and safetensors save/load of the
  constants as float32 tensors (shape "graph"); for each --stream-options (shape "graph"), the message sent from
  one process to another (benchmarks/grpc_stream.py): over a loopback socket (ps.write, ps.read), then over
  loopback gRPC (proto_splitter.grpc) up to a servicer's receive and receive_to, and down to a client's receive;
  with --remote (shape "graph", up to --remote-up-to): ps.write to moto's S3 server, ps.read and ps.read_partial
  of one node over loopback HTTP and over S3 (servers in processes of their own, see benchmarks/remote.py; moto
  with ranged GETs fixed, benchmarks/moto_ranged.py).
Reads find the file just written in the page cache (warm); os.sync() runs before each operation so that
earlier writes are flushed. Ratios to baselines are taken pair by pair within a repeat, then the median.
Then the Riegeli codec alone, side by side with Google's (riegeli_throughput.py --compare-only, --codec-size of
records per row; 0 skips it): rows appended to the table.
Writes results.json, results.png (time and peak RSS vs size, log-log) and results.txt (the table) to --out;
prints the table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import psutil
import remote
import report
import riegeli_throughput
from measure import parse_size
from workloads import ORACLE_PARENT, STREAMS, estimated_rss

sys.path.insert(0, str(ORACLE_PARENT))
from tf_oracle import unavailable_reason as oracle_unavailable_reason

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OPTIONS = ["uncompressed", "zstd:1", "brotli:1", "snappy"]
PROTOBUF_LIMIT = (1 << 31) - 1
MEMORY_FACTOR = 2.2  # peak RSS of the worst operation over the message's own in-memory size (ps.read, TF Merger)


def find_oracle() -> tuple[str | None, str]:
    """The folder holding the project's TensorFlow oracle (tests/tf_oracle), when it can run here."""
    reason = oracle_unavailable_reason()
    if reason is not None:
        return None, f"TensorFlow's Merger not measured: {reason}"
    return str(ORACLE_PARENT), ""


class Progress:
    """A one-line progress bar on stderr when it is a terminal; otherwise a line per finished repeat."""

    def __init__(self, total: int):
        self.total, self.done, self.start = total, 0, time.monotonic()
        self.tty = sys.stderr.isatty()

    def step(self, text: str) -> None:
        """Shows `text` as running; counts the previous step as done."""
        self.done += 1
        if self.tty:
            filled = 30 * (self.done - 1) // max(self.total, 1)
            elapsed = time.monotonic() - self.start
            sys.stderr.write(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done - 1}/{self.total} "
                f"{elapsed / 60:4.1f} min  {text[:50]:<50}"
            )
            sys.stderr.flush()

    def note(self, text: str) -> None:
        if self.tty:
            sys.stderr.write("\r" + " " * 110 + "\r")
        elapsed = time.monotonic() - self.start
        print(f"[{elapsed / 60:5.1f} min] {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def run_step(op: str, case: dict, work: Path, args, options: str | None = None) -> dict:
    """One operation in a fresh process; its JSON result, or {"error": ...}."""
    command = [
        sys.executable,
        str(HERE / "workloads.py"),
        op,
        "--shape",
        case["shape"],
        "--size",
        str(case["size"]),
        "--dir",
        str(work),
        "--chunk",
        str(case["chunk"]),
        "--nodes",
        str(case.get("nodes", 0)),
        "--constants",
        str(case.get("constants", 0)),
        "--options",
        options or "uncompressed",
        "--oracle",
        args.oracle or "",
        "--http",
        case.get("http", ""),
        "--s3",
        case.get("s3", ""),
    ]
    os.sync()  # earlier writes' dirty pages are flushed now, not during this measurement
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=args.timeout, env=environment, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout} s"}
    if done.returncode:
        reason = (
            f"killed by signal {-done.returncode} (out of memory?)"
            if done.returncode < 0
            else f"exit {done.returncode}"
        )
        return {"error": f"{reason}: {done.stderr.strip()[-600:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def sequence(case: dict, args) -> list[tuple[str, str | None]]:
    """The operations of one repeat of a case, in order."""
    steps = []
    for options in args.options:
        steps += [("write", options), ("read", options)]
        if args.oracle and options in args.tf_options:
            steps.append(("tf_merger", options))
    if case.get("remote"):
        steps += [
            ("write_s3", "uncompressed"),
            ("read_s3", "uncompressed"),
            ("read_http", "uncompressed"),
            ("read_partial_s3", None),
            ("read_partial_http", None),
        ]
    steps += [
        ("writer", "uncompressed"),
        ("read_partial", "uncompressed"),
        ("open_get", "uncompressed"),
        ("copy", None),
    ]
    if case.get("message_bytes", case["size"]) <= PROTOBUF_LIMIT:
        steps += [("serialize_write", None), ("parse_read", None)]
    if case["shape"] == "graph":
        steps += [("onnx_save", None), ("onnx_load", None), ("safetensors_save", None), ("safetensors_load", None)]
        steps += [(op, options) for options in args.stream_options for op in STREAMS]
    return steps


def run_case(case: dict, args, progress: Progress, measurements: list[dict], notes: list[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"ps-bench-{case['shape']}-{case['size_label']}-", dir=args.work))
    try:
        with ExitStack() as servers:
            if case.get("remote"):
                case["http"] = servers.enter_context(remote.range_server(work))
                case["s3"] = servers.enter_context(remote.moto_server(work / "moto", "ranged"))
            run_repeats(case, work, args, progress, measurements, notes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def codec_rows(args, notes: list[str]) -> list[dict]:
    """The codec side by side with Google's, in a fresh process; [] (and a note) when skipped or failed."""
    if parse_size(args.codec_size) == 0:
        return []
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        out = Path(work) / "codec.json"
        command = [sys.executable, str(HERE / "riegeli_throughput.py"), "--compare-only", "--json", str(out)]
        command += ["--compare-total", args.codec_size, "--compare-repeats", str(args.repeats)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
        rows = json.loads(out.read_text())["google"] if out.exists() else []
    if not rows:
        notes.append(f"codec rows against Google's: none ({(done.stdout + done.stderr).strip()[-200:]})")
    return rows


def run_repeats(case: dict, work: Path, args, progress: Progress, measurements: list[dict], notes: list[str]) -> None:
    """Prepares the case's message, then runs every operation --repeats times (within --case-budget)."""
    progress.step(f"{case['shape']} {case['size_label']} prepare")
    prepared = run_step("prepare", case, work, args)
    if "error" in prepared:
        case["skipped"] = f"building the message failed: {prepared['error']}"
        return
    case.update(
        message_bytes=prepared["message_bytes"],
        message_rss=prepared["message_rss"],
        nodes=prepared["nodes"],
        constants=prepared["constants"],
        build_seconds=prepared["seconds"],
    )
    started = time.monotonic()
    for repeat in range(args.repeats):
        for op, options in sequence(case, args):
            progress.step(f"{case['shape']} {case['size_label']} #{repeat + 1} {report.label(op, options)}")
            result = run_step(op, case, work, args, options)
            if "error" in result:
                notes.append(
                    f"{case['shape']} {case['size_label']} {report.label(op, options)} repeat "
                    f"{repeat + 1} failed: {result['error'].splitlines()[-1]}"
                )
            measurements.append(
                dict(
                    result,
                    shape=case["shape"],
                    size_label=case["size_label"],
                    op=op,
                    options=options if op in report.WITH_OPTIONS else None,
                    repeat=repeat,
                )
            )
        case["repeats_done"] = repeat + 1
        spent = time.monotonic() - started
        progress.note(f"{case['shape']} {case['size_label']}: repeat {repeat + 1} done, {spent / 60:.1f} min")
        if (
            args.case_budget
            and repeat + 1 < args.repeats
            and spent / (repeat + 1) * (repeat + 2) > args.case_budget * 60
        ):
            notes.append(
                f"{case['shape']} {case['size_label']}: {repeat + 1} repeat(s) only (another would "
                f"pass --case-budget {args.case_budget:g} min)"
            )
            progress.done += (args.repeats - repeat - 1) * len(sequence(case, args))
            break


def machine() -> dict:
    import google.protobuf

    memory = psutil.virtual_memory()
    return {
        "cpus": os.cpu_count(),
        "memory_bytes": memory.total,
        "available_bytes_at_start": memory.available,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "protobuf": google.protobuf.__version__,
        "load_average_at_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", help="message sizes (default 256M,1G,3G; --quick: 16M,32M)")
    parser.add_argument("--shapes", default="graph,small")
    parser.add_argument("--repeats", type=int, help="runs of each operation (default 3; --quick: 1)")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--quick", action="store_true", help="sizes 16M,32M, 1 repeat, TF only uncompressed")
    parser.add_argument("--options", default=",".join(OPTIONS), help="Riegeli options of ps.write")
    parser.add_argument("--tf-options", default=None, help="options whose files TF's Merger reads (default: all)")
    parser.add_argument(
        "--stream-options",
        default="uncompressed",
        help="options of the streams between two processes, shape graph (loopback socket, gRPC); '' for none",
    )
    parser.add_argument(
        "--chunk", default="64M", help="max_chunk_size of ps.write (forces .cpb; at most a quarter of the size)"
    )
    parser.add_argument("--work", default=tempfile.gettempdir(), help="where the files are written")
    parser.add_argument(
        "--case-budget",
        type=float,
        default=0,
        help="minutes per (shape, size): no further repeat once it would pass this (0: none)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per operation")
    parser.add_argument("--codec-size", help="records per codec row against Google's (default 256M; --quick: 16M)")
    parser.add_argument("--no-remote", dest="remote", action="store_false", help="no HTTP and S3 rows")
    parser.add_argument("--remote-up-to", default="3G", help="largest size with HTTP and S3 rows (moto holds it)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats = args.sizes or "16M,32M", args.repeats or 1
        args.tf_options = args.tf_options or "uncompressed"
        args.codec_size = args.codec_size or "16M"
    args.codec_size = args.codec_size or "256M"
    args.sizes, args.repeats = args.sizes or "256M,1G,3G", args.repeats or 3
    args.options = list(dict.fromkeys(["uncompressed", *args.options.split(",")]))
    args.tf_options = args.tf_options.split(",") if args.tf_options else args.options
    args.stream_options = [options for options in args.stream_options.split(",") if options]
    args.chunk_bytes = parse_size(args.chunk)
    args.oracle, oracle_note = find_oracle()
    notes = [oracle_note] if oracle_note else []
    missing = [name for name in ("s3fs", "moto.server") if importlib.util.find_spec(name.split(".")[0]) is None]
    if args.remote and missing:
        args.remote = False
        notes.append(f"HTTP and S3 rows not measured: {', '.join(missing)} not installed (pip install -e '.[test]')")
    elif args.remote:
        notes.append(
            "s3 rows: moto's S3 server with ranged GETs reading only their bytes (benchmarks/moto_ranged.py); "
            "http rows: proto_splitter.testing.range_server; both on 127.0.0.1 in processes of their own"
        )
    notes.append(
        "reads find their file in the page cache (written just before); ps.write and the baselines do "
        "not fsync; the copy is in-kernel (sendfile) from a cached file"
    )
    cases = [
        {
            "shape": shape,
            "size_label": label,
            "size": parse_size(label),
            "chunk": min(args.chunk_bytes, parse_size(label) // 4),
            "remote": args.remote and shape == "graph" and parse_size(label) <= parse_size(args.remote_up_to),
        }  # .cpb of at least 4 chunks at any size
        for label in args.sizes.split(",")
        for shape in args.shapes.split(",")
    ]
    for case in cases:  # a case whose message this machine cannot hold is reported, not attempted
        need = MEMORY_FACTOR * estimated_rss(case["shape"], case["size"])
        if need > psutil.virtual_memory().total * 0.9:
            case["skipped"] = (
                f"needs about {need / 2**30:.0f} GiB of memory (message "
                f"{estimated_rss(case['shape'], case['size']) / 2**30:.1f} GiB in Python objects); "
                f"this machine has {psutil.virtual_memory().total / 2**30:.0f} GiB"
            )
    runnable = [case for case in cases if "skipped" not in case]
    progress = Progress(sum(1 + args.repeats * len(sequence(case, args)) for case in runnable))
    measurements: list[dict] = []
    started = time.monotonic()
    for case in runnable:
        run_case(case, args, progress, measurements, notes)
    progress.close()
    notes += [f"{case['shape']} {case['size_label']} skipped: {case['skipped']}" for case in cases if "skipped" in case]
    codec = codec_rows(args, notes)
    done_cases = [case for case in cases if "message_bytes" in case]
    rows = report.summarize(measurements, done_cases, args.options)
    slopes = report.fits(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {key: value for key, value in vars(args).items() if key not in ("oracle",)}
    document = {
        "settings": settings,
        "machine": machine(),
        "minutes": (time.monotonic() - started) / 60,
        "load_average_at_end": os.getloadavg(),
        "notes": notes,
        "cases": cases,
        "rows": rows,
        "fits": slopes,
        "codec_against_google": codec,
    }
    report.write_json(out / "results.json", document)
    report.plot(rows, out / "results.png")
    lines = [report.table(rows, slopes)]
    if codec:
        lines += ["", "Riegeli codec against Google's (riegeli_throughput.py):"]
        lines.append(riegeli_throughput.comparison_table(codec))
    text = "\n".join([*lines, *(f"note: {note}" for note in notes)])
    (out / "results.txt").write_text(text + "\n")
    print(text)
    print(
        f"{len(measurements)} measurements in {document['minutes']:.1f} min; {out / 'results.json'}, "
        f"{out / 'results.png'}"
    )
    return 0 if rows and not any(row["errors"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
