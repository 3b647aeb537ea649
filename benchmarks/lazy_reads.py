"""Issue 13 figures: lazy access to GraphDef files of 1, 3 and 6 GiB (and 1 GiB of small nodes).

    python benchmarks/lazy_reads.py [--sizes 1G,3G,6G] [--small 1G] [--chunks default,64M] [--dir DIR]
    python benchmarks/lazy_reads.py --quick       # 64M and 128M, small 64M: the pipeline in a minute

Messages are `tensorflow.GraphDef`s (proto_splitter.tf): shape "graph" holds 4 MiB float32 constants plus small
nodes carrying 1/32 of the bytes; shape "small" holds small nodes only (about 17 million per GiB). Each is
written uncompressed as a `.cpb` with the default max_chunk_size and with 64 MiB, then measured in a fresh
process, files in the page cache, medians:

- open: `ps.open` of the indexed file (target <= 20 ms); of the same file ignoring its index, as a file written
  by TensorFlow is opened: the scan of its MESSAGE chunks (target >= 1 GB/s of the file, also shown per byte
  scanned);
- get: `get("node[k]")` for k spread over the list, on an open handle (target <= 10 ms), and open + first get;
- tensor: `pstf.open_graph(...).tensor(name)` of one 4 MiB constant (target <= 10 ms);
- tensors: `g.tensors()` over every constant (target >= 2 GB/s and >= 0.5x safetensors' `safe_open` +
  `get_tensor` of the same arrays, measured side by side);
- iter: `f.iter("node")` over every node in a fresh process, peak RSS growth (target <= 256 MiB + 2x
  max_chunk_size);
- http: `open_graph(url)` + one `tensor(name)` from a loopback server honouring Range (target <= 3 requests,
  <= the tensor + 1 MiB + the metadata and index).

The 6 GiB figures are compared with the 1 GiB ones (target: within 1.5x). Prints a table; writes JSON to
benchmarks/results/lazy_reads.json. Needs about 2x the largest size of memory (the message, then the write) and
3x of disk (the file and the safetensors copy). The measuring step first reads both files once, so that they are
in the page cache.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from measure import measure

HERE = Path(__file__).resolve().parent
MIB, GIB = 1 << 20, 1 << 30
CONSTANT = 4 * MIB
SMALL_FRACTION = 32
POOL = 64 * MIB
TENSORS_ROUNDS = 5  # g.tensors() and safetensors side by side, alternately; the best of each is compared


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": MIB, "G": GIB}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


# ---- the message ----------------------------------------------------------------------------------------------


def plan(shape: str, size: int) -> tuple[int, int]:
    """(constants, small nodes) for about `size` serialized bytes."""
    if shape == "small":
        return 0, size // 62
    constants = max(1, size * (SMALL_FRACTION - 1) // SMALL_FRACTION // CONSTANT)
    return constants, max(0, (size - constants * CONSTANT) // 62)


def small_nodes(first: int, count: int, fan_in: int) -> bytes:
    """Serialized GraphDef.node occurrences of small AddV2 nodes `first` to `first + count - 1` (name, op, two
    inputs, attr T), built as bytes: building millions of NodeDef objects in Python takes minutes."""
    attr = b"\x2a\x07\x0a\x01T\x12\x02\x30\x01"  # attr {key: "T" value {type: DT_FLOAT}}
    parts = []
    for index in range(first, first + count):
        name = b"add_%d" % index
        inputs = (b"const_%d" % (index % fan_in), b"add_%d" % (index - 1))
        node = (
            b"\x0a"
            + bytes([len(name)])
            + name
            + b"\x12\x05AddV2"
            + b"".join(b"\x1a" + bytes([len(value)]) + value for value in inputs)
            + attr
        )
        parts.append(b"\x0a" + bytes([len(node)]) + node)
    return b"".join(parts)


def constant_contents(count: int):
    """Each constant's bytes: float32 noise windows of a 64 MiB pool, the constant's index in the first 4 bytes."""
    pool = np.random.default_rng(0).standard_normal(POOL // 4 + CONSTANT // 4, dtype=np.float32).view(np.uint8)
    for index in range(count):
        start = (index * 4099 * 1024) % POOL
        yield index.to_bytes(4, "little") + pool[start + 4 : start + CONSTANT].tobytes()


def build(shape: str, size: int):
    from proto_splitter.tf import graph_pb2

    constants, small = plan(shape, size)
    graph = graph_pb2.GraphDef()
    graph.versions.producer = 1
    for index, content in enumerate(constant_contents(constants)):
        node = graph.node.add(name=f"const_{index}", op="Const")
        node.attr["dtype"].type = 1
        tensor = node.attr["value"].tensor
        tensor.dtype = 1
        tensor.tensor_shape.dim.add(size=CONSTANT // 4)
        tensor.tensor_content = content
    batch = 1 << 20
    for start in range(0, small, batch):
        graph.MergeFromString(small_nodes(start, min(batch, small - start), max(constants, 1)))
    return graph


# ---- steps, each in a fresh process ---------------------------------------------------------------------------


def step_prepare(args) -> dict:
    """Builds the message, writes the .cpb (and for shape graph the constants as .safetensors)."""
    from proto_splitter import files

    graph = build(args.shape, args.size)
    nodes = len(graph.node)
    chunk = None if args.chunk == "default" else parse_size(args.chunk)
    started = time.perf_counter()
    files.write_chunked(graph, args.path, chunk)
    seconds = time.perf_counter() - started
    constants = [node.name for node in graph.node if node.op == "Const"]
    if constants and args.safetensors and not os.path.exists(args.safetensors):
        from safetensors.numpy import save_file

        arrays = {
            node.name: np.frombuffer(node.attr["value"].tensor.tensor_content, dtype=np.float32)
            for node in graph.node
            if node.op == "Const"
        }
        save_file(arrays, args.safetensors)
        del arrays
    del graph
    gc.collect()
    return {
        "nodes": nodes,
        "constants": len(constants),
        "file_bytes": os.path.getsize(args.path),
        "write_seconds": seconds,
    }


def warm_page_cache(paths: list[str]) -> float:
    """Reads the files once so that every figure is taken with them in the page cache (at 6 GiB, building the
    message in the step before evicts part of what it wrote); returns the seconds it took."""
    started = time.perf_counter()
    buffer = bytearray(16 * MIB)
    for path in paths:
        if path:
            with open(path, "rb", buffering=0) as file:
                while file.readinto(buffer):
                    pass
    return time.perf_counter() - started


def timed(function, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def step_measure(args) -> dict:
    """Open, get, tensor, tensors (with safetensors side by side), the scan of the file as if it had no index."""
    import proto_splitter as ps
    from proto_splitter import tensorflow as pstf
    from proto_splitter.tf import graph_pb2

    result: dict = {}
    file_bytes = os.path.getsize(args.path)
    result["warm_s"] = warm_page_cache([args.path, args.safetensors])

    def open_close() -> None:
        ps.open(args.path, graph_pb2.GraphDef).close()

    open_close()
    result["open_s"] = timed(open_close, 15)
    with ps.open(args.path, graph_pb2.GraphDef) as handle:
        count = handle.count("node")
        indices = sorted({0, count - 1, count // 2, *np.linspace(0, count - 1, 30, dtype=np.int64).tolist()})
        handle.get("node[1]")
        gets = []
        for index in indices:
            started = time.perf_counter()
            node = handle.get(f"node[{index}]")
            gets.append(time.perf_counter() - started)
            assert node.name in (f"add_{index - args.constants}", f"const_{index}"), (index, node.name)
        result["get_s"] = gets
    result["open_get_s"] = timed(lambda: _open_get(ps, graph_pb2, args.path, count // 2), 5)
    started = time.perf_counter()
    with ps.open(args.path, graph_pb2.GraphDef, use_index=False) as scanned:
        scan_seconds = time.perf_counter() - started
        metadata = scanned.metadata
        message_bytes = sum(info.size for info in metadata.chunks if info.type != 2)
        assert scanned.get(f"node[{count // 3}]") == ps.open(args.path, graph_pb2.GraphDef).get(f"node[{count // 3}]")
    result.update(scan_s=scan_seconds, scanned_bytes=message_bytes, file_bytes=file_bytes, nodes=count)
    if args.constants:
        names = [f"const_{i}" for i in np.linspace(0, args.constants - 1, 20, dtype=np.int64).tolist()]
        with pstf.open_graph(args.path, graph_pb2.GraphDef) as graph:
            graph.tensor(names[0])
            tensor_times = []
            for name in names:
                started = time.perf_counter()
                array = graph.tensor(name)
                tensor_times.append(time.perf_counter() - started)
                assert array.view(np.uint8)[:4].tobytes() == int(name[6:]).to_bytes(4, "little")
            result["tensor_s"] = tensor_times
        result["open_tensor_s"] = timed(lambda: _open_tensor(pstf, graph_pb2, args.path, names[10]), 5)
        result["tensors"] = []
        for _ in range(TENSORS_ROUNDS):
            result["tensors"].append(
                {"ours_s": _all_tensors(pstf, graph_pb2, args.path), "safetensors_s": _safetensors(args.safetensors)}
            )
        result["tensor_bytes"] = args.constants * CONSTANT
    return result


def _open_get(ps, graph_pb2, path: str, index: int) -> None:
    with ps.open(path, graph_pb2.GraphDef) as handle:
        handle.get(f"node[{index}]")


def _open_tensor(pstf, graph_pb2, path: str, name: str) -> None:
    with pstf.open_graph(path, graph_pb2.GraphDef) as graph:
        graph.tensor(name)


def _all_tensors(pstf, graph_pb2, path: str) -> float:
    started = time.perf_counter()
    total = 0
    with pstf.open_graph(path, graph_pb2.GraphDef) as graph:
        for _, array in graph.tensors():
            total += array.nbytes
    return time.perf_counter() - started


def _safetensors(path: str) -> float:
    from safetensors import safe_open

    started = time.perf_counter()
    total = 0
    with safe_open(path, framework="np") as opened:
        for name in opened.keys():  # noqa: SIM118 (safe_open has keys(), no iteration)
            total += opened.get_tensor(name).nbytes
    return time.perf_counter() - started


def step_iter(args) -> dict:
    """Every node through f.iter("node"), in this fresh process: time and peak RSS growth."""
    import proto_splitter as ps
    from proto_splitter.tf import graph_pb2

    with ps.open(args.path, graph_pb2.GraphDef) as handle:
        gc.collect()
        count = 0
        with measure() as taken:
            for _ in handle.iter("node"):
                count += 1
    return {"iter_s": taken.seconds, "iter_peak_growth": taken.peak_growth, "iter_nodes": count}


def step_http(args) -> dict:
    """open_graph(url) + one tensor(name) from a loopback server: requests and bytes."""
    import proto_splitter as ps
    from proto_splitter import tensorflow as pstf
    from proto_splitter.testing.range_server import RangeServer
    from proto_splitter.tf import graph_pb2

    metadata = ps.read_metadata(args.path)
    name = f"const_{args.constants // 2}"
    folder = Path(args.path).parent
    with RangeServer(folder) as server:
        started = time.perf_counter()
        with pstf.open_graph(server.url(Path(args.path).name), graph_pb2.GraphDef) as graph:
            array = graph.tensor(name)
        seconds = time.perf_counter() - started
        return {
            "http_s": seconds,
            "http_requests": server.requests,
            "http_bytes": server.bytes_served,
            "http_allowed_bytes": array.nbytes + MIB + metadata.ByteSize() + metadata.index.size,
        }


STEPS = {"prepare": step_prepare, "measure": step_measure, "iter": step_iter, "http": step_http}


def run_step(step: str, case: dict, args) -> dict:
    command = [
        sys.executable,
        __file__,
        "--step",
        step,
        "--shape",
        case["shape"],
        "--size",
        str(case["size"]),
        "--chunk",
        case["chunk"],
        "--path",
        case["path"],
        "--safetensors",
        case.get("safetensors", ""),
        "--constants",
        str(case.get("constants", 0)),
    ]
    os.sync()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{step} failed for {case['label']}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- the table -----------------------------------------------------------------------------------------------


def summarize(case: dict) -> dict:
    """The case's figures against the issue's targets."""
    ms = 1e3
    row = {
        "case": case["label"],
        "file_gib": case["file_bytes"] / GIB,
        "open_ms": statistics.median(case["open_s"]) * ms,
        "scan_gbps": case["file_bytes"] / case["scan_s"] / 1e9,
        "scan_message_gbps": case["scanned_bytes"] / case["scan_s"] / 1e9,
        "get_ms": statistics.median(case["get_s"]) * ms,
        "get_max_ms": max(case["get_s"]) * ms,
        "open_get_ms": statistics.median(case["open_get_s"]) * ms,
    }
    if "tensor_s" in case:
        ours = min(run["ours_s"] for run in case["tensors"])
        theirs = min(run["safetensors_s"] for run in case["tensors"])
        row.update(
            tensor_ms=statistics.median(case["tensor_s"]) * ms,
            tensor_max_ms=max(case["tensor_s"]) * ms,
            open_tensor_ms=statistics.median(case["open_tensor_s"]) * ms,
            tensors_gbps=case["tensor_bytes"] / ours / 1e9,
            safetensors_gbps=case["tensor_bytes"] / theirs / 1e9,
            tensors_vs_safetensors=theirs / ours,
        )
    if "iter_s" in case:
        chunk = 2 * GIB if case["chunk"] == "default" else parse_size(case["chunk"])
        row.update(
            iter_s=case["iter_s"],
            iter_growth_mib=case["iter_peak_growth"] / MIB,
            iter_limit_mib=(256 * MIB + 2 * chunk) / MIB,
        )
    if "http_requests" in case:
        row.update(
            http_requests=case["http_requests"],
            http_mib=case["http_bytes"] / MIB,
            http_allowed_mib=case["http_allowed_bytes"] / MIB,
        )
    return row


def table(rows: list[dict]) -> str:
    columns = [
        ("case", "case", "{}"),
        ("file_gib", "GiB", "{:.2f}"),
        ("open_ms", "open ms", "{:.1f}"),
        ("scan_gbps", "scan GB/s", "{:.2f}"),
        ("get_ms", "get ms", "{:.2f}"),
        ("get_max_ms", "get max", "{:.2f}"),
        ("open_get_ms", "open+get", "{:.1f}"),
        ("tensor_ms", "tensor ms", "{:.2f}"),
        ("tensor_max_ms", "tensor max", "{:.2f}"),
        ("tensors_gbps", "tensors GB/s", "{:.2f}"),
        ("safetensors_gbps", "st GB/s", "{:.2f}"),
        ("tensors_vs_safetensors", "x st", "{:.2f}"),
        ("iter_growth_mib", "iter MiB", "{:.0f}"),
        ("iter_limit_mib", "limit MiB", "{:.0f}"),
        ("http_requests", "http req", "{}"),
        ("http_mib", "http MiB", "{:.2f}"),
        ("http_allowed_mib", "allowed", "{:.2f}"),
    ]
    lines = [" | ".join(title for _, title, _ in columns)]
    for row in rows:
        lines.append(" | ".join(form.format(row[key]) if key in row else "-" for key, _, form in columns))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1G,3G,6G", help="sizes of shape graph")
    parser.add_argument("--small", default="1G", help="sizes of shape small ('' for none)")
    parser.add_argument("--chunks", default="default,64M", help="max_chunk_size settings")
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--quick", action="store_true", help="64M,128M and small 64M (chunks default,16M)")
    parser.add_argument("--skip-iter", action="store_true", help="no iter step (minutes on millions of nodes)")
    parser.add_argument("--out", default=str(HERE / "results" / "lazy_reads.json"))
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--chunk", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--safetensors", help=argparse.SUPPRESS)
    parser.add_argument("--constants", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        print(json.dumps(STEPS[args.step](args)))
        return 0
    if args.quick:
        args.sizes, args.small, args.chunks = "64M,128M", "64M", "default,16M"
    cases = [
        (shape, label)
        for shape, labels in (("graph", args.sizes), ("small", args.small))
        for label in labels.split(",")
        if label
    ]
    work = Path(tempfile.mkdtemp(prefix="ps-lazy-", dir=args.dir))
    results = []
    try:
        for shape, label in cases:
            safetensors = str(work / f"{shape}-{label}.safetensors") if shape == "graph" else ""
            for chunk in args.chunks.split(","):
                case = {
                    "shape": shape,
                    "size": parse_size(label),
                    "chunk": chunk,
                    "label": f"{shape} {label} {chunk}",
                    "path": str(work / f"{shape}-{label}-{chunk}.cpb"),
                    "safetensors": safetensors,
                }
                print(f"{case['label']}: prepare", file=sys.stderr, flush=True)
                case.update(run_step("prepare", case, args))
                print(f"{case['label']}: measure", file=sys.stderr, flush=True)
                case.update(run_step("measure", case, args))
                if case["constants"]:
                    case.update(run_step("http", case, args))
                if not args.skip_iter:
                    print(f"{case['label']}: iter", file=sys.stderr, flush=True)
                    case.update(run_step("iter", case, args))
                os.unlink(case["path"])
                results.append(case)
                print(table([summarize(case)]).splitlines()[-1], file=sys.stderr, flush=True)
            if safetensors and os.path.exists(safetensors):
                os.unlink(safetensors)
    finally:
        for leftover in work.iterdir():
            leftover.unlink()
        work.rmdir()
    rows = [summarize(case) for case in results]
    text = table(rows)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"cases": results, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
