"""SavedModel save and load time and memory, proto_splitter.tensorflow against TensorFlow's tf.saved_model, per GiB.

    python benchmarks/tf_saved_model.py [--size 0.75] [--big 3]
    python benchmarks/tf_saved_model.py --ceiling [--sizes 1.5,2,2.5,3,4,5,6] [--compare 1.5] [--cap 19]
    python benchmarks/tf_saved_model.py --compare-only [--compare 1.5] [--repeats 3]

Default mode (results/tf_saved_model.json):
- tf-save / tf-load: TensorFlow's save and load of a module of --size GiB of constants (saved_model.pb);
- ps-save / ps-load: pstf.save and pstf.load of the same module as saved_model.cpb (256 MiB chunks);
- ps-load-big: pstf.load of a SavedModel of --big GiB (saved_model.cpb past 2 GiB), then one function run.
  This one is not a real save: the model is saved small and its constants grown in the proto
  (tf_models.grow_constants); its "save" (ps-write-big) is ps.write of that proto.

--ceiling (results/tf_saved_model_ceiling.json): real saves of a BigConstantsModule (256 MiB float32 constants
embedded in functions) built in memory, by pstf.save (256 MiB chunks), then pstf.load of the export and the first
call of every function, each output checked. Sizes are tried in the order of --sizes until one fails, then
bisected to --resolution GiB, twice: for the largest module saved, loaded and run correctly, and for the largest
saved. Each step reports its time, its peak RSS, "copies" ((peak - RSS after importing TensorFlow) / proto
size) and the phase of TensorFlow's saver or loader holding the peak; a failure, its reason and phase. Side by
side at --compare GiB: tf.saved_model.save / load against pstf.save / load of the same module, per GiB, the
two alternating --repeats times (medians); --compare-only runs just that side by side
(results/tf_saved_model_compare.json).

Every step runs in a fresh process under `flock <--lock>` (one heavy job at a time on a shared machine), watched
from this process: its RSS (process tree) is sampled every 20 ms, which also sees peaks inside calls that hold
the GIL, and it is killed when that passes --cap GiB or the machine's available memory falls below
--min-available GiB, long before the kernel's OOM killer would act (then retried, since others caused it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from unittest import mock

import psutil
from measure import PHASE_MARK, WatchedRun, gib, measure, peak_between, phase_peaks, run_watched

CHUNK = 256 << 20
GIB = 1 << 30
X = [1.0, -2.0, 0.5]  # the input every loaded function is checked on
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


# ---- one step, in its own process --------------------------------------------------------------------------


def _proto_bytes(export_dir: str) -> int:
    return sum(
        os.path.getsize(os.path.join(export_dir, name))
        for name in os.listdir(export_dir)
        if name.startswith("saved_model.")
    )


def _ends_file(export_dir: str) -> str:
    return export_dir.rstrip(os.sep) + ".ends.json"


def _save_ends(export_dir: str, names, ends, by_name: bool = True) -> None:
    """Keeps, beside the export, each function's (first, last) constant values: what its outputs must be.
    Without `by_name`, only the set of outputs is known (grown constants are found in library order)."""
    pairs = [[float(first), float(last)] for first, last in ends]
    with open(_ends_file(export_dir), "w") as out:
        json.dump({"names": list(names), "ends": pairs, "by_name": by_name}, out)


def _marking(function, taken, on_entry: str | None, on_exit: str | None):
    """`function` wrapped so that calling it starts phase `on_entry` of `taken` and returning starts
    `on_exit` (None: no mark; an exception leaves the phase where it was raised)."""

    def wrapper(*args, **kwargs):
        if on_entry:
            taken.mark(on_entry)
        result = function(*args, **kwargs)
        if on_exit:
            taken.mark(on_exit)
        return result

    return wrapper


def _mark_calls(stack: contextlib.ExitStack, taken, marks) -> None:
    """Wraps each (owner, attribute, on_entry, on_exit) of `marks` with _marking for the life of `stack` (a
    function set on a class becomes a method: self comes in the arguments)."""
    for owner, attribute, on_entry, on_exit in marks:
        wrapper = _marking(getattr(owner, attribute), taken, on_entry, on_exit)
        stack.enter_context(mock.patch.object(owner, attribute, wrapper))


GRAPH_EXPORT = "GraphDef export (C++, serialized, parsed)"
GRAPH_STORED = "GraphDef into MetaGraphDef"


def _save_phases(taken, stack: contextlib.ExitStack, library: str) -> None:
    """Phase marks inside tf.saved_model.save (TensorFlow 2.21's save.py) and pstf.save."""
    from tensorflow.python.framework import ops
    from tensorflow.python.saved_model import fingerprinting_utils, pywrap_saved_model
    from tensorflow.python.saved_model import save as tf_save

    from proto_splitter.tensorflow import saved_model as pstf_saved_model

    marks = [
        (tf_save, "_fill_meta_graph_def", "exported graph: functions copied in", "object graph, checkpoint"),
        (pywrap_saved_model, "Save", None, "SavedModel proto serialized and written"),
        (fingerprinting_utils, "write_fingerprint", "fingerprint (reads the file back)", "graph dismantled"),
    ]
    if library == "tf":
        marks.append((ops.Graph, "_as_graph_def", GRAPH_EXPORT, GRAPH_STORED))
    else:  # pstf.save's own graph export (TensorFlow's, whole; past 2 GiB, in parts)
        exporter = pstf_saved_model._graph_export_of_any_size

        def marked_exporter(*args, **kwargs):
            ops, as_graph_def = exporter(*args, **kwargs)
            return ops, _marking(as_graph_def, taken, GRAPH_EXPORT, GRAPH_STORED)

        stack.enter_context(mock.patch.object(pstf_saved_model, "_graph_export_of_any_size", marked_exporter))
        parts = "graph past the limit: exported in parts (pstf)"
        marks.append((pstf_saved_model, "_export_in_parts", parts, None))
    _mark_calls(stack, taken, marks)


def _load_phases(taken, stack: contextlib.ExitStack) -> None:
    """Phase marks inside tf.saved_model.load (TensorFlow 2.21's load.py)."""
    from tensorflow.python.saved_model import function_deserialization, load, loader_impl

    marks = [
        (loader_impl, "parse_saved_model_with_debug_info", None, "loader set up"),
        (function_deserialization, "load_function_def_library", "functions loaded (FuncGraphs)", "objects built"),
        (load.Loader, "_restore_checkpoint", "checkpoint restored", "loader done"),
    ]
    _mark_calls(stack, taken, marks)


def _check_outputs(loaded, export_dir: str, every: bool = True) -> int:
    """Runs every function of the loaded module (or, unless `every`, the first) on X against the (first, last)
    values saved with it; returns how many were checked. Raises AssertionError on a wrong output."""
    import numpy as np
    import tensorflow as tf

    with open(_ends_file(export_dir)) as source:
        saved = json.load(source)
    x = np.array(X, dtype=np.float32)
    names = saved["names"] if every else saved["names"][:1]
    got = [getattr(loaded, name)(tf.constant(x)).numpy().tolist() for name in names]
    want = [(x * np.float32(first) + np.float32(last)).tolist() for first, last in saved["ends"]]
    if saved["by_name"]:
        wrong = [name for name, mine, right in zip(names, got, want) if mine != right]  # noqa: B905 (first ones)
    else:  # which constant became which library function is not known: each output must be one expected
        wrong = [name for name, mine in zip(names, got, strict=True) if mine not in want]
    if wrong or (every and sorted(got) != sorted(want)):
        raise AssertionError(f"wrong outputs from {wrong or names}")
    return len(got)


def _measured(taken) -> dict:
    """What the parent needs of one measured block: its time, its window (to find the peak in the watcher's
    samples) and the peak the in-process sampler saw."""
    return {
        "seconds": taken.seconds,
        "window": [taken.started_at, taken.ended_at],
        "in_process_peak_rss": taken.peak_rss,
        "start_rss": taken.start_rss,
    }


def step(name: str, size_gib: float, export_dir: str) -> dict:
    import tensorflow as tf

    import proto_splitter as ps
    from proto_splitter import tensorflow as pstf
    from proto_splitter.testing.tf_models import BigConstantsModule, grow_constants

    result: dict = {"baseline_rss": psutil.Process().memory_info().rss}  # TensorFlow imported, nothing built
    if name == "prepare-big":  # not a real save: a small save, constants grown past 2 GiB, written as .cpb
        from tensorflow.core.protobuf import saved_model_pb2

        module = BigConstantsModule(12 * 4096, piece_bytes=4096)
        pstf.save(module, export_dir)
        saved_model = ps.read(os.path.join(export_dir, "saved_model"), saved_model_pb2.SavedModel)
        ends = grow_constants(saved_model, int(size_gib * GIB) // len(module.function_names))
        _save_ends(export_dir, module.function_names, ends, by_name=False)
        with measure(phase="ps.write of the grown proto") as taken:
            ps.write(saved_model, os.path.join(export_dir, "saved_model"))
        result.update(_measured(taken))
    elif name.endswith("save"):
        module = BigConstantsModule(int(size_gib * GIB))
        _save_ends(export_dir, module.function_names, module.ends)
        shutil.rmtree(export_dir, ignore_errors=True)
        result["module_rss"] = psutil.Process().memory_info().rss
        with measure(phase="trace the functions (FuncGraphs)") as taken, contextlib.ExitStack() as stack:
            _save_phases(taken, stack, name[:2])
            if name == "tf-save":
                tf.saved_model.save(module, export_dir)
            else:
                pstf.save(module, export_dir, max_chunk_size=CHUNK)
        result.update(_measured(taken))
    else:
        with measure(phase="SavedModel proto read and parsed") as taken, contextlib.ExitStack() as stack:
            _load_phases(taken, stack)
            loaded = tf.saved_model.load(export_dir) if name == "tf-load" else pstf.load(export_dir)
        result.update(_measured(taken))
        print(json.dumps(result), flush=True)  # the load's figures, should computing the outputs be stopped
        with measure(phase="first call of every function (outputs checked)") as ran:
            result["outputs_checked"] = _check_outputs(loaded, export_dir, every=name != "ps-load-big")
        result["run"] = _measured(ran)
    result["proto_bytes"] = _proto_bytes(export_dir)
    result["proto_file"] = min(name for name in os.listdir(export_dir) if name.startswith("saved_model."))
    return result


def _run_step_here(args) -> None:
    """--step: runs one step and prints its JSON as the last line (an error as {"error": ...})."""
    name, size, export_dir = args.step
    try:
        result = step(name, float(size), export_dir)
    except Exception as error:  # noqa: BLE001 (reported to the parent, which decides)
        result = {"error": f"{type(error).__name__}: {str(error).strip()[-1500:]}"}
    print(json.dumps(result), flush=True)


# ---- the parent: steps run watched, one at a time ----------------------------------------------------------


def _error_lines(stderr: str) -> str:
    """The end of a failed step's stderr without phase marks and TensorFlow's informational log lines."""
    noise = (PHASE_MARK, "I0000")
    lines = [line for line in stderr.strip().splitlines() if line.strip() and not line.startswith(noise)]
    return " | ".join(lines[-4:])[-1500:]


def _watched_once(command: list[str], args) -> tuple[dict, WatchedRun]:
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    os.sync()  # earlier writes' dirty pages are flushed now, not during this measurement
    run = run_watched(command, int(args.cap * GIB), int(args.min_available * GIB), env=environment)
    answers = [line for line in run.stdout.splitlines() if line.startswith("{")]
    result = json.loads(answers[-1]) if answers else {}
    if run.stopped:
        result["error"] = run.stopped
    elif run.returncode and "error" not in result:
        how = f"killed by signal {-run.returncode}" if run.returncode < 0 else f"exit {run.returncode}"
        result["error"] = f"{how}: {_error_lines(run.stderr)}"
    return result, run


def run_step(name: str, size_gib: float, export_dir: str, args) -> dict:
    """Runs one step in a watched child process (under the shared lock); returns its measurements with the
    peaks the watcher saw (the step's, each phase's, the whole process's), and on failure {"error": why,
    "phase": where}. A step stopped because other processes left the machine short of memory is retried."""
    command = [sys.executable, os.path.abspath(__file__), "--step", name, str(size_gib), export_dir]
    if args.lock:
        command = ["flock", args.lock, *command]
    for attempt in range(3):
        result, run = _watched_once(command, args)
        if not (run.stopped or "").startswith("the machine's available memory") or attempt == 2:
            break
        print(f"  {name} {size_gib} GiB: {run.stopped}; retrying in a minute", file=sys.stderr, flush=True)
        time.sleep(60)
    phases = phase_peaks(run.stderr, run.samples)
    result["phases"] = phases
    result["process_peak_rss"] = run.peak_rss
    for measured in (result, result.get("run")):
        if measured and "window" in measured:
            watched = peak_between(run.samples, *measured["window"])
            measured["peak_rss"] = max(watched or 0, measured["in_process_peak_rss"])
            measured["peak_phase"] = _peak_phase(phases, *measured["window"])
    if "error" in result:
        result["phase"] = phases[-1]["phase"] if phases else None
        result["seconds_until_failure"] = run.seconds
    if "proto_bytes" in result:
        result["seconds_per_gib"] = result["seconds"] / (result["proto_bytes"] / GIB)
        result["peak_rss_per_gib"] = result["peak_rss"] / result["proto_bytes"]  # GiB of memory per GiB of proto
        result["copies"] = (result["peak_rss"] - result["baseline_rss"]) / result["proto_bytes"]
    print(f"  {name} {size_gib:g} GiB: {_summary(result)}", file=sys.stderr, flush=True)
    return result


def _peak_phase(phases: list[dict], start: float, end: float) -> str | None:
    """The phase begun within [start, end] in which the watcher saw the highest RSS."""
    inside = [phase for phase in phases if start <= phase["at"] <= end and phase["peak_rss"] is not None]
    return max(inside, key=lambda phase: phase["peak_rss"])["phase"] if inside else None


def _summary(result: dict) -> str:
    if "error" in result:
        return f"FAILED in {result.get('phase')}: {result['error']} (peak {gib(result['process_peak_rss'])})"
    return f"{result['seconds']:.1f} s, peak {gib(result['peak_rss'])}, proto {gib(result['proto_bytes'])}"


def _cleanup(export_dir: str) -> None:
    shutil.rmtree(export_dir, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_ends_file(export_dir))


# ---- default mode ------------------------------------------------------------------------------------------


def pairs(args, work: str) -> None:
    rows = {}
    plan = [
        ("tf-save", args.size, "tf"),
        ("tf-load", args.size, "tf"),
        ("ps-save", args.size, "ps"),
        ("ps-load", args.size, "ps"),
        ("prepare-big", args.big, "big"),
        ("ps-load-big", args.big, "big"),
    ]
    for name, size, folder in plan:
        rows[name] = run_step(name, size, os.path.join(work, folder), args)
        if "error" in rows[name]:
            raise SystemExit(f"step {name} failed: {rows[name]['error']}")
    rows["ps-write-big"] = rows.pop("prepare-big")
    print(f"{'step':<13} {'proto':>10} {'seconds':>8} {'s/GiB':>7} {'peak RSS':>10}")
    for name, row in rows.items():
        print(
            f"{name:<13} {gib(row['proto_bytes']):>10} {row['seconds']:>8.1f} {row['seconds_per_gib']:>7.2f} "
            f"{gib(row['peak_rss']):>10}"
        )
    for ours, theirs in (("ps-save", "tf-save"), ("ps-load", "tf-load"), ("ps-load-big", "tf-load")):
        ratio = rows[ours]["seconds_per_gib"] / rows[theirs]["seconds_per_gib"]
        print(f"{ours} / {theirs} per GiB: {ratio:.2f} (target <= 1.5)")
    _write_json("tf_saved_model.json", rows)


# ---- --ceiling ---------------------------------------------------------------------------------------------


def find_ceiling(works, ladder: list[float], resolution: float) -> tuple[float | None, float | None]:
    """Tries `works(size)` up the ladder until a size fails, then bisects between the last size that worked
    (or 0) and the first that failed until they are at most `resolution` apart. Returns (largest size that
    worked, smallest that failed); either is None when no size worked or none failed."""
    good = bad = None
    for size in ladder:
        if works(size):
            good = size
        else:
            bad = size
            break
    while bad is not None and bad - (good or 0.0) > resolution + 1e-9:
        middle = round(((good or 0.0) + bad) / 2, 6)
        if works(middle):
            good = middle
        else:
            bad = middle
    return good, bad


def _save_then_load(library: str, size: float, args, work: str) -> dict:
    """`library`-save of a BigConstantsModule of `size` GiB ("tf" or "ps"), then `library`-load of it and the
    first call of every function, each output checked; the export is deleted after. `saved`, `loaded`
    (the load returned) and `ran` say how far it got."""
    export_dir = os.path.join(work, f"{library}-{size:g}")
    try:
        save = run_step(f"{library}-save", size, export_dir, args)
        load = {"error": "not run: the save failed"}
        if "error" not in save:
            load = run_step(f"{library}-load", size, export_dir, args)
    finally:
        _cleanup(export_dir)
    return {
        "size_gib": size,
        "saved": "error" not in save,
        "loaded": "seconds" in load,
        "ran": "error" not in save and "error" not in load,
        "save": save,
        "load": load,
    }


MEDIAN_KEYS = ("seconds", "seconds_per_gib", "peak_rss", "peak_rss_per_gib", "copies", "process_peak_rss")


def _medians(results: list[dict]) -> dict:
    """One row for several runs of a step: the medians of its figures (of the first call of every function
    too), the rest from the first run; the first failure when no run succeeded. `runs` keeps them all."""
    done = [result for result in results if "seconds_per_gib" in result]
    if not done:
        return {**results[0], "runs": results}
    row = {**done[0], "runs": results}
    row.update({key: statistics.median(result[key] for result in done) for key in MEDIAN_KEYS})
    if all("run" in result for result in done):
        row["run"] = {key: statistics.median(result["run"][key] for result in done) for key in ("seconds", "peak_rss")}
    return row


def _compare(size: float, args, work: str) -> dict:
    """tf.saved_model.save / load against pstf.save / load of the same module, per GiB: the two alternate
    --repeats times (timings drift on a shared machine) and are compared by their medians."""
    runs: dict[str, list[dict]] = {"tf": [], "ps": []}
    for _ in range(args.repeats):
        for library, attempts in runs.items():
            attempts.append(_save_then_load(library, size, args, work))
    rows = {
        f"{library}-{kind}": _medians([attempt[kind] for attempt in attempts])
        for library, attempts in runs.items()
        for kind in ("save", "load")
    }
    ratios = {}
    for kind in ("save", "load"):
        mine, theirs = rows[f"ps-{kind}"], rows[f"tf-{kind}"]
        if "seconds_per_gib" in mine and "seconds_per_gib" in theirs:
            ratios[kind] = {
                "seconds_per_gib": mine["seconds_per_gib"] / theirs["seconds_per_gib"],
                "peak_rss_per_gib": mine["peak_rss_per_gib"] / theirs["peak_rss_per_gib"],
                "process_peak_rss": mine["process_peak_rss"] / theirs["process_peak_rss"],
            }
    return {"size_gib": size, "repeats": args.repeats, "rows": rows, "ps_over_tf": ratios}


def _row(label: str, result: dict) -> str:
    where = f" in {result['phase']}" if result.get("phase") else ""
    if "seconds_per_gib" not in result:
        return f"{label:<22} FAILED{where}: {result.get('error', '')[:300]}"
    line = (
        f"{label:<22} {gib(result['proto_bytes']):>10} {result['seconds']:>8.1f} {result['seconds_per_gib']:>7.1f} "
        f"{gib(result['peak_rss']):>10} {result['peak_rss_per_gib']:>8.2f} {result['copies']:>7.2f} "
        f"{gib(result['process_peak_rss']):>10}  peak in: {result['peak_phase']}"
    )
    if "run" in result:
        line += f"; first calls {result['run']['seconds']:.1f} s, peak {gib(result['run']['peak_rss'])}"
    if "error" in result:
        line += f"; then FAILED{where}: {result['error'][:300]}"
    return line


def _print_ceiling(attempts: dict, comparison: dict, limits: dict) -> None:
    print(
        f"{'step':<22} {'proto':>10} {'seconds':>8} {'s/GiB':>7} {'peak RSS':>10} {'GiB/GiB':>8} {'copies':>7} "
        f"{'process':>10}"
    )
    for size in sorted(attempts):
        for kind in ("save", "load"):
            print(_row(f"ps-{kind} {size:g} GiB", attempts[size][kind]))
    compare = comparison["size_gib"]
    for name, result in comparison["rows"].items():
        print(_row(f"{name} {compare:g} GiB", result))
    for kind, ratio in comparison["ps_over_tf"].items():
        print(
            f"ps-{kind} / tf-{kind} at {compare:g} GiB, per GiB: time {ratio['seconds_per_gib']:.2f}, "
            f"peak RSS {ratio['peak_rss_per_gib']:.2f} (whole process, first calls included: "
            f"{ratio['process_peak_rss']:.2f}; medians of {comparison['repeats']})"
        )
    for what, (good, bad) in limits.items():
        print(f"largest that {what}: {good} GiB (smallest that does not: {bad} GiB)")


def _machine() -> dict:
    return {"memory_bytes": psutil.virtual_memory().total, "cpus": os.cpu_count(), "python": platform.python_version()}


def ceiling(args, work: str) -> None:
    """The --ceiling mode: the largest module saved, loaded and run (bisected), then the largest saved."""
    attempts: dict[float, dict] = {}

    def reaches(stage: str):
        def works(size: float) -> bool:
            if size not in attempts:
                print(f"ceiling: trying {size:g} GiB", file=sys.stderr, flush=True)
                attempts[size] = _save_then_load("ps", size, args, work)
            return attempts[size][stage]

        return works

    started = time.perf_counter()
    limits = {
        "pstf.save writes, pstf.load loads and runs correctly": find_ceiling(
            reaches("ran"), args.sizes, args.resolution
        ),
        "pstf.save writes": find_ceiling(reaches("saved"), args.sizes, args.resolution),
    }
    loaded = [size for size, attempt in attempts.items() if attempt["loaded"]]
    comparison = _compare(args.compare, args, work)
    _print_ceiling(attempts, comparison, limits)
    document = {
        "machine": _machine(),
        "cap_bytes": int(args.cap * GIB),
        "min_available_bytes": int(args.min_available * GIB),
        "ladder_gib": args.sizes,
        "resolution_gib": args.resolution,
        "ceilings": {
            what: {"largest_working_gib": good, "smallest_failing_gib": bad} for what, (good, bad) in limits.items()
        },
        "largest_loaded_gib": max(loaded, default=None),
        "attempts": [attempts[size] for size in sorted(attempts)],
        "comparison": comparison,
        "seconds": time.perf_counter() - started,
    }
    _write_json("tf_saved_model_ceiling.json", document)


def compare_only(args, work: str) -> None:
    """The --compare-only mode: tf.saved_model against pstf at --compare GiB, without the ceiling's search."""
    comparison = _compare(args.compare, args, work)
    _print_ceiling({}, comparison, {})
    _write_json("tf_saved_model_compare.json", {"machine": _machine(), "comparison": comparison})


def _write_json(name: str, document) -> None:
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, name), "w") as out:
        json.dump(document, out, indent=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=float, default=0.75, help="GiB of constants for the save/load pairs")
    parser.add_argument("--big", type=float, default=3.0, help="GiB of the SavedModel loaded past 2 GiB")
    parser.add_argument("--ceiling", action="store_true", help="find the largest real pstf.save + pstf.load")
    parser.add_argument(
        "--sizes",
        type=lambda text: [float(size) for size in text.split(",")],
        default=[1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0],
        help="GiB, ascending: the ceiling's ladder (default 1.5,2,2.5,3,4,5,6)",
    )
    parser.add_argument("--resolution", type=float, default=0.25, help="GiB: the ceiling's bisection stops here")
    parser.add_argument("--compare", type=float, default=1.5, help="GiB: tf.saved_model against pstf at this size")
    parser.add_argument("--compare-only", action="store_true", help="only the side by side at --compare")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each library at --compare (medians)")
    parser.add_argument("--cap", type=float, default=19.0, help="GiB: a step whose RSS passes this is killed")
    parser.add_argument(
        "--min-available", type=float, default=1.0, help="GiB: a step is killed when the machine has less free"
    )
    parser.add_argument("--lock", default="/work/heavy.lock", help="flock this file around each step ('' for none)")
    parser.add_argument("--work", default=None, help="directory for the exports (default: a temporary one)")
    parser.add_argument("--step", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        _run_step_here(args)
        return
    work = tempfile.mkdtemp(prefix="tf-saved-model-bench-", dir=args.work)
    try:
        if args.compare_only:
            compare_only(args, work)
        elif args.ceiling:
            ceiling(args, work)
        else:
            pairs(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
