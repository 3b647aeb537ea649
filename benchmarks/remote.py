"""Remote storage at scale (issue 15): whole and partial reads over loopback HTTP and moto's S3 server, and
writes to S3, against the local read of the same file in the same run.

    python benchmarks/remote.py --sizes 1G,3G [--repeats 3] [--moto ranged,stock] [--work DIR]
    python benchmarks/remote.py --quick          # 32M, one repeat, both servers: a smoke test

Per size, the message (GraphDef-like: 4 MiB constants plus small nodes carrying 1/32 of the bytes, shape
"graph4" of workloads.py) is written locally with ps.write (max_chunk_size --chunk: one chunk per constant) and
served, each in a process of its own, by the loopback range server (proto_splitter.testing.range_server,
sendfile) and by moto's S3 server, to which ps.write uploads it (measured). Then, per repeat, each in a fresh
process (workloads.py): the local ps.read, ps.read over HTTP and over S3, and ps.read_partial of one constant
over both. Targets (issue 15):
  whole ps.read: peak RSS <= 1.15x and time <= 1.3x the local read's, pair by pair within a repeat (median);
  largest request <= the cap (16 MiB over HTTP, 8 MiB over S3: the defaults), request count reported;
  one 4 MiB constant: <= 4 requests, and <= the constant + 1 MiB + the metadata received;
  (no target) "download only": the whole file fetched in the same requests with no hashing and no merge, what the
  server and the transfer alone cost on this machine, against the same local read.
  ps.write to S3: peak RSS growth <= 2x max_chunk_size + 64 MiB.
Stock moto reads a whole object for every ranged GET (see moto_ranged.py): "--moto ranged" runs moto with that
path fixed, "stock" as released; stock moto is measured up to --stock-up-to only (past it, each 16 MiB request
would copy the whole multi-GiB object, several at once). Writes results/remote.json and results/remote.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from workloads import S3_BUCKET

from proto_splitter.testing.moto_server import MotoServer

HERE = Path(__file__).resolve().parent
MIB, GIB = 1 << 20, 1 << 30
UNITS = {"K": 1 << 10, "M": MIB, "G": GIB}
SHAPE = "graph4"
TARGETS = {"rss": 1.15, "time": 1.3, "partial_requests": 4, "write_slack": 64 * MIB}


def parse_size(text: str) -> int:
    unit = text[-1].upper()
    return int(float(text[:-1]) * UNITS[unit]) if unit in UNITS else int(text)


@contextmanager
def range_server(folder: Path) -> Iterator[str]:
    """The loopback range server serving `folder`, in its own process; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "proto_splitter.testing.range_server", str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def moto_server(folder: Path, variant: str) -> Iterator[str]:
    """moto's S3 server ("ranged": ranged GETs read only their bytes; "stock") with the benchmark's bucket;
    yields its endpoint."""
    folder.mkdir()
    launcher = HERE / "moto_ranged.py" if variant == "ranged" else None
    with MotoServer(temp_dir=folder, launcher=launcher) as server:
        server.create_bucket(S3_BUCKET)
        yield server.endpoint_url


def run_op(op: str, case: dict, args, **servers: str) -> dict:
    """One workloads.py operation in a fresh process; its JSON result, or {"error": ...}."""
    command = [
        sys.executable,
        str(HERE / "workloads.py"),
        op,
        "--shape",
        SHAPE,
        "--size",
        str(case["size"]),
        "--dir",
        str(case["work"]),
        "--chunk",
        str(args.chunk_bytes),
        "--nodes",
        str(case.get("nodes", 0)),
        *(f"--{name}={url}" for name, url in servers.items()),
    ]
    os.sync()
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
    if done.returncode:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-800:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_size(label: str, args, results: list[dict]) -> None:
    case = {"size_label": label, "size": parse_size(label)}
    case["work"] = Path(tempfile.mkdtemp(prefix=f"ps-remote-{label}-", dir=args.work))
    variants = [v for v in args.moto if v == "ranged" or case["size"] <= parse_size(args.stock_up_to)]

    def record(op: str, result: dict, repeat: int, moto: str | None = None) -> dict:
        entry = dict(result, op=op, size_label=label, repeat=repeat, moto=moto)
        results.append(entry)
        print(f"  {label} #{repeat} {op}{f' ({moto} moto)' if moto else ''}: {summary_line(entry)}", flush=True)
        return entry

    try:
        prepared = run_op("prepare", case, args)
        if "error" in prepared:
            record("prepare", prepared, 0)
            return
        case.update(nodes=prepared["nodes"], message_bytes=prepared["message_bytes"])
        record("write", run_op("write", case, args), 0)
        with ExitStack() as stack:
            http = stack.enter_context(range_server(case["work"]))
            motos = {v: stack.enter_context(moto_server(case["work"] / f"moto-{v}", v)) for v in variants}
            for variant, endpoint in motos.items():
                record("write_s3", run_op("write_s3", case, args, s3=endpoint), 0, variant)
            for repeat in range(1, args.repeats + 1):
                record("read", run_op("read", case, args), repeat)
                record("read_http", run_op("read_http", case, args, http=http), repeat)
                for variant, endpoint in motos.items():
                    record("read_s3", run_op("read_s3", case, args, s3=endpoint), repeat, variant)
                record("download_http", run_op("download_http", case, args, http=http), repeat)
                for variant, endpoint in motos.items():
                    record("download_s3", run_op("download_s3", case, args, s3=endpoint), repeat, variant)
                record("read_partial_http", run_op("read_partial_http", case, args, http=http), repeat)
                for variant, endpoint in motos.items():
                    record("read_partial_s3", run_op("read_partial_s3", case, args, s3=endpoint), repeat, variant)
    finally:
        shutil.rmtree(case["work"], ignore_errors=True)


def summary_line(entry: dict) -> str:
    if "error" in entry:
        return "ERROR " + entry["error"].splitlines()[-1]
    text = f"{entry['seconds']:.2f} s, peak {entry['peak_rss'] / GIB:.3f} GiB"
    if "requests" in entry:
        text += f", {entry['requests']} requests (largest {entry['largest_request'] / MIB:.1f} MiB)"
    if "peak_growth" in entry:
        text += f", growth {entry['peak_growth'] / MIB:.0f} MiB"
    return text


def evaluate(results: list[dict], chunk: int) -> list[dict]:
    """One row per (size, operation, server) with medians and the targets' verdicts."""
    rows = []
    keys = dict.fromkeys((r["size_label"], r["op"], r.get("moto")) for r in results if r["op"] != "prepare")
    for size, op, moto in keys:
        runs = [r for r in results if (r["size_label"], r["op"], r.get("moto")) == (size, op, moto)]
        good = [r for r in runs if "error" not in r]
        row = {
            "size": size,
            "op": op,
            "moto": moto,
            "runs": len(good),
            "errors": [r["error"] for r in runs if "error" in r],
        }
        if good:
            row.update(
                seconds=statistics.median(r["seconds"] for r in good),
                peak_rss=max(r["peak_rss"] for r in good),
                requests=max((r.get("requests", 0) for r in good), default=0) or None,
                largest_request=max((r.get("largest_request", 0) for r in good), default=0) or None,
                transferred=max((r.get("transferred", 0) for r in good), default=0) or None,
            )
            checks = row["checks"] = {}
            if op in ("read_http", "read_s3", "download_http", "download_s3"):
                local = {
                    r["repeat"]: r
                    for r in results
                    if r["size_label"] == size and r["op"] == "read" and "error" not in r
                }
                paired = [(r, local[r["repeat"]]) for r in good if r["repeat"] in local]
                row["x_time"] = statistics.median(r["seconds"] / base["seconds"] for r, base in paired)
                row["x_rss"] = statistics.median(r["peak_rss"] / base["peak_rss"] for r, base in paired)
            if op in ("read_http", "read_s3"):
                checks["time"] = row["x_time"] <= TARGETS["time"]
                checks["rss"] = row["x_rss"] <= TARGETS["rss"]
                checks["cap"] = row["largest_request"] <= good[0]["max_request"]
            if op.startswith("read_partial"):
                budget = good[0]["constant_bytes"] + MIB + good[0]["metadata_bytes"]
                row["budget"] = budget
                checks["requests"] = row["requests"] <= TARGETS["partial_requests"]
                checks["bytes"] = row["transferred"] <= budget
            if op == "write_s3":
                row["peak_growth"] = max(r["peak_growth"] for r in good)
                row["budget"] = 2 * chunk + TARGETS["write_slack"]
                checks["growth"] = row["peak_growth"] <= row["budget"]
        rows.append(row)
    return rows


LABELS = {
    "write": "ps.write local",
    "write_s3": "ps.write s3",
    "read": "ps.read local",
    "read_http": "ps.read http",
    "read_s3": "ps.read s3",
    "download_http": "download only http",
    "download_s3": "download only s3",
    "read_partial_http": "read_partial 1 constant http",
    "read_partial_s3": "read_partial 1 constant s3",
}


def _cell(row: dict, key: str, spec: str, scale: int = 1) -> str:
    value = row.get(key)
    return "-".rjust(len(format(0, spec))) if value is None else format(value / scale if scale > 1 else value, spec)


def table(rows: list[dict]) -> str:
    header = (
        f"{'size':>4} {'operation':<30} {'moto':<6} {'n':>1} {'median s':>8} {'peak GiB':>8} {'x time':>6} "
        f"{'x RSS':>5} {'requests':>8} {'largest MiB':>11} {'received MiB':>12}  targets"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        if "seconds" not in row:
            lines.append(
                f"{row['size']:>4} {LABELS[row['op']]:<30} {row['moto'] or '':<6} -  failed: {row['errors'][0]}"
            )
            continue
        verdicts = [f"{name} {'met' if ok else 'NOT MET'}" for name, ok in row["checks"].items()]
        if "peak_growth" in row:
            verdicts.append(f"growth {row['peak_growth'] / MIB:.0f} <= {row['budget'] / MIB:.0f} MiB")
        elif "budget" in row:
            verdicts.append(f"budget {row['budget'] / MIB:.2f} MiB")
        lines.append(
            f"{row['size']:>4} {LABELS[row['op']]:<30} {row['moto'] or '':<6} {row['runs']:>1} "
            f"{row['seconds']:>8.2f} {row['peak_rss'] / GIB:>8.3f} {_cell(row, 'x_time', '6.2f')} "
            f"{_cell(row, 'x_rss', '5.2f')} {_cell(row, 'requests', '8d')} "
            f"{_cell(row, 'largest_request', '11.1f', MIB)} {_cell(row, 'transferred', '12.2f', MIB)}  "
            + ", ".join(verdicts)
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1G,3G")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", default="4M", help="max_chunk_size of ps.write (default: one chunk per constant)")
    parser.add_argument("--moto", default="ranged,stock", help="moto servers: ranged (fixed ranged GETs), stock")
    parser.add_argument("--stock-up-to", default="1G", help="largest size measured over stock moto")
    parser.add_argument("--work", default=tempfile.gettempdir(), help="where files and moto's objects go")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per operation")
    parser.add_argument("--quick", action="store_true", help="32M, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats = "32M", 1
    args.chunk_bytes = parse_size(args.chunk)
    args.moto = args.moto.split(",")
    started = time.monotonic()
    results: list[dict] = []
    for label in args.sizes.split(","):
        print(f"{label}:", flush=True)
        measure_size(label, args, results)
    rows = evaluate(results, args.chunk_bytes)
    text = table(rows)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    document = {"settings": vars(args), "minutes": (time.monotonic() - started) / 60, "rows": rows, "runs": results}
    (out / "remote.json").write_text(json.dumps(document, indent=1, default=str) + "\n")
    (out / "remote.txt").write_text(text + "\n")
    failed = any(row["errors"] for row in rows) or any(not ok for row in rows for ok in row.get("checks", {}).values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
