"""Summaries of benchmarks/run.py's measurements: medians, pairwise ratios, log-log slopes, the table, JSON, plot."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

GIB = 1 << 30
LABELS = {
    "write": "ps.write",
    "writer": "ps.Writer",
    "read": "ps.read",
    "read_partial": "ps.read_partial 1 node",
    "open_get": "ps.open handle .get 1 node",
    "tf_merger": "TF C++ Merger",
    "serialize_write": "SerializeToString+write",
    "parse_read": "read+ParseFromString",
    "onnx_save": "onnx.save external",
    "onnx_load": "onnx.load external",
    "safetensors_save": "safetensors save",
    "safetensors_load": "safetensors load",
    "copy": "shutil.copyfile",
    "socket_stream": "socket stream",
    "grpc_upload": "gRPC up receive",
    "grpc_upload_to_path": "gRPC up receive_to",
    "grpc_download": "gRPC down receive",
    "write_s3": "ps.write s3 (moto)",
    "read_http": "ps.read http",
    "read_s3": "ps.read s3 (moto)",
    "read_partial_http": "ps.read_partial http 1 node",
    "read_partial_s3": "ps.read_partial s3 1 node",
}
STREAMS = {"socket_stream", "grpc_upload", "grpc_upload_to_path", "grpc_download"}
# Each of our operations against its baselines, pair by pair within a repeat: (column, baseline op, same options)
BASELINES = {
    "write": [("x_base", "serialize_write", False)],
    "writer": [("x_base", "serialize_write", False)],
    "read": [("x_base", "parse_read", False), ("x_tf", "tf_merger", True)],
    **{op: [("x_base", "socket_stream", True)] for op in STREAMS - {"socket_stream"}},
    "write_s3": [("x_base", "write", True)],
    "read_http": [("x_base", "read", True)],
    "read_s3": [("x_base", "read", True)],
}
REMOTE = {"write_s3", "read_http", "read_s3", "read_partial_http", "read_partial_s3"}
LIBRARY = {"write", "writer", "read", "read_partial", "open_get", *STREAMS, *REMOTE}
WITH_OPTIONS = {
    "write",
    "writer",
    "read",
    "tf_merger",
    *STREAMS,
    "write_s3",
    "read_http",
    "read_s3",
}  # rows per options string


def label(op: str, options: str | None) -> str:
    return f"{LABELS[op]} {options}" if options else LABELS[op]


def summarize(measurements: list[dict], cases: list[dict], option_order: list[str]) -> list[dict]:
    """One row per (shape, size, operation, options): median seconds over the repeats that succeeded, GiB/s of
    the bytes the operation carried, the largest peak RSS, and the median of per-repeat ratios to baselines."""
    by_case = {(case["shape"], case["size_label"]): case for case in cases}
    groups: dict[tuple, list[dict]] = {}
    for item in measurements:
        groups.setdefault((item["shape"], item["size_label"], item["op"], item["options"]), []).append(item)
    rows = []
    for (shape, size_label, op, options), runs in groups.items():
        case = by_case[(shape, size_label)]
        good = [run for run in runs if "error" not in run]
        row = {
            "shape": shape,
            "size_label": size_label,
            "message_bytes": case["message_bytes"],
            "op": op,
            "options": options,
            "label": label(op, options),
            "repeats": len(good),
            "runs": runs,
            "errors": [run["error"] for run in runs if "error" in run],
        }
        if good:
            seconds = statistics.median(run["seconds"] for run in good)
            carried = good[0].get("bytes", case["message_bytes"])
            row.update(
                seconds=seconds,
                bytes=carried,
                gib_per_s=None if op in ("read_partial", "open_get") else carried / seconds / GIB,
                peak_rss=max(run["peak_rss"] for run in good),
                data_rss=max(run["peak_rss"] - run["base_rss"] for run in good),
                file_bytes=good[-1].get("file_bytes"),
            )
        row["ratios"] = {}
        for column, baseline, same_options in BASELINES.get(op, []):
            theirs = {
                run["repeat"]: run
                for run in groups.get((shape, size_label, baseline, options if same_options else None), [])
            }
            pairs = [
                run["seconds"] / theirs[run["repeat"]]["seconds"]
                for run in good
                if "error" not in theirs.get(run["repeat"], {"error": 1})
            ]
            if pairs:
                row["ratios"][column] = {
                    "baseline": label(baseline, options if same_options else None),
                    "median": statistics.median(pairs),
                    "pairs": pairs,
                }
        rows.append(row)
    order = {op: index for index, op in enumerate(LABELS)}
    rank = {name: index for index, name in enumerate(option_order)}
    return sorted(
        rows, key=lambda row: (row["shape"], row["message_bytes"], order[row["op"]], rank.get(row["options"], -1))
    )


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) against log(x): 1 is linear growth."""
    points = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len({x for x, _ in points}) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)


def fits(rows: list[dict]) -> list[dict]:
    """Per (shape, operation): slopes of time and of memory (peak RSS over the interpreter's own) vs size."""
    lines: dict[tuple, list[dict]] = {}
    for row in rows:
        if "seconds" in row:
            lines.setdefault((row["shape"], row["label"]), []).append(row)
    result = []
    for (shape, name), points in lines.items():
        time_slope = slope([(row["message_bytes"], row["seconds"]) for row in points])
        if time_slope is not None:
            result.append(
                {
                    "shape": shape,
                    "label": name,
                    "sizes": len(points),
                    "time_slope": time_slope,
                    "memory_slope": slope([(row["message_bytes"], row["data_rss"]) for row in points]),
                }
            )
    return result


def _cell(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _growth(value: float | None) -> str:
    if value is None:
        return "     -"
    return f"{value:5.2f}" + ("~" if 0.85 <= value <= 1.15 else ("<" if value < 0.85 else "!"))


def table(rows: list[dict], slopes: list[dict]) -> str:
    """The one table: a line per measured operation; its size slopes (over all sizes) on its largest size's line."""
    by_line = {(fit["shape"], fit["label"]): fit for fit in slopes}
    largest = {}
    for row in rows:
        if "seconds" in row:
            largest[(row["shape"], row["label"])] = row["message_bytes"]
    header = (
        f"{'shape':<5} {'size':>5} {'operation':<32} {'n':>1} {'median s':>9} {'GiB/s':>6} {'peak RSS':>8} "
        f"{'x base':>6} {'x TF':>5} {'file GiB':>8}  {'slope t':>7} {'slope m':>7}"
    )
    out = [header, "-" * len(header)]
    for row in rows:
        size = f"{row['size_label']:>5}"
        if "seconds" not in row:
            out.append(f"{row['shape']:<5} {size} {row['label']:<32} 0  failed: {row['errors'][0][-60:]}")
            continue
        fit = (
            by_line.get((row["shape"], row["label"]))
            if largest[(row["shape"], row["label"])] == row["message_bytes"]
            else None
        )
        ratio = {column: row["ratios"].get(column, {}).get("median") for column in ("x_base", "x_tf")}
        file_gib = row["file_bytes"] / GIB if row.get("file_bytes") else None
        out.append(
            f"{row['shape']:<5} {size} {row['label']:<32} {row['repeats']:>1} {row['seconds']:>9.3f} "
            f"{_cell(row['gib_per_s'], '6.3f'):>6} {row['peak_rss'] / GIB:>8.2f} "
            f"{_cell(ratio['x_base'], '6.2f'):>6} {_cell(ratio['x_tf'], '5.2f'):>5} "
            f"{_cell(file_gib, '8.2f'):>8}  {_growth(fit and fit['time_slope']):>7} "
            f"{_growth(fit and fit['memory_slope']):>7}"
        )
    out.append(
        "x base: time / (SerializeToString+write) for writes, / (read+ParseFromString) for reads, / the loopback "
        "socket stream for gRPC, / the local ps.write or ps.read for s3 and http; x TF: time / TF's C++ Merger on "
        "the same file; both medians of same-repeat pairs. Streams: from the first byte received to the message "
        "whole (file written); peak RSS of the receiver."
    )
    out.append(
        "slope t / slope m: log-log slope vs size of time and of peak RSS over the interpreter's "
        "(~ linear, < sub-linear, ! super-linear); peak RSS in GiB, max over repeats."
    )
    return "\n".join(out)


def write_json(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=1, default=str))


def plot(rows: list[dict], path: Path) -> None:
    """Time and peak RSS vs message size, log-log, one line per operation, one column per shape."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    shapes = sorted({row["shape"] for row in rows if "seconds" in row})
    figure, axes = plt.subplots(2, max(len(shapes), 1), figsize=(7 * max(len(shapes), 1), 10), squeeze=False)
    names = list(dict.fromkeys(row["label"] for row in rows))
    colors = plt.get_cmap("tab20")
    for column, shape in enumerate(shapes):
        for index, name in enumerate(names):
            points = [row for row in rows if row["shape"] == shape and row["label"] == name and "seconds" in row]
            if not points:
                continue
            style = {
                "color": colors(index % 20),
                "marker": "o",
                "label": name,
                "linestyle": "-" if points[0]["op"] in LIBRARY else "--",
            }
            sizes = [row["message_bytes"] / GIB for row in points]
            axes[0][column].plot(sizes, [row["seconds"] for row in points], **style)
            axes[1][column].plot(sizes, [row["peak_rss"] / GIB for row in points], **style)
        measured = sorted({row["message_bytes"] for row in rows if row["shape"] == shape and "seconds" in row})
        for row_index, quantity in enumerate(("median time (s)", "peak RSS (GiB)")):
            axis = axes[row_index][column]
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.set_xticks([size / GIB for size in measured], [f"{size / GIB:.3g}" for size in measured])
            axis.xaxis.set_minor_formatter(NullFormatter())  # only the measured sizes are labelled
            axis.set_xlabel("message size (GiB)")
            axis.set_ylabel(quantity)
            axis.set_title(f"shape {shape}: {quantity.split(' (')[0]}")
            axis.grid(True, which="both", alpha=0.3)
        axes[0][column].legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
