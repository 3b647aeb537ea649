"""SavedModel save and load time, proto_splitter.tensorflow against TensorFlow's own tf.saved_model, per GiB.

    python benchmarks/tf_saved_model.py [--size 0.75] [--big 3]

- tf-save / tf-load: TensorFlow's save and load of a module of --size GiB of constants (saved_model.pb);
- ps-save / ps-load: pstf.save and pstf.load of the same module as saved_model.cpb (256 MiB chunks);
- ps-load-big: pstf.load of a SavedModel of --big GiB (saved_model.cpb past 2 GiB).
TensorFlow's saver holds several copies of the graph (more than this 24 GiB machine has for a 2 GiB graph),
so the big model is saved small and its constants grown in the proto (tf_models.grow_constants); its save is
ps.write of that proto. Each step runs in a fresh process; peak RSS is the step's own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from measure import gib, measure

CHUNK = 256 << 20


def run_step(*args: str) -> dict:
    completed = subprocess.run([sys.executable, __file__, "--step", *args], capture_output=True, text=True, check=False)
    if completed.returncode:
        raise SystemExit(f"step {args} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _proto_bytes(export_dir: str) -> int:
    return sum(
        os.path.getsize(os.path.join(export_dir, name))
        for name in os.listdir(export_dir)
        if name.startswith("saved_model.")
    )


def step(name: str, size_gib: float, export_dir: str) -> dict:
    import numpy as np
    import tensorflow as tf

    import proto_splitter as ps
    from proto_splitter import tensorflow as pstf
    from proto_splitter.testing.tf_models import BigConstantsModule, grow_constants

    if name == "prepare-big":  # not measured: a small save, constants grown past 2 GiB, written as .cpb
        from tensorflow.core.protobuf import saved_model_pb2

        module = BigConstantsModule(12 * 4096, piece_bytes=4096)
        pstf.save(module, export_dir)
        saved_model = ps.read(os.path.join(export_dir, "saved_model"), saved_model_pb2.SavedModel)
        grow_constants(saved_model, int(size_gib * (1 << 30)) // len(module.function_names))
        with measure() as taken:
            ps.write(saved_model, os.path.join(export_dir, "saved_model"))
        return {"seconds": taken.seconds, "peak_rss": taken.peak_rss, "proto_bytes": _proto_bytes(export_dir)}
    if name.endswith("save"):
        module = BigConstantsModule(int(size_gib * (1 << 30)))
        shutil.rmtree(export_dir, ignore_errors=True)
        with measure() as taken:
            if name == "tf-save":
                tf.saved_model.save(module, export_dir)
            else:
                pstf.save(module, export_dir, max_chunk_size=CHUNK)
    else:
        with measure() as taken:
            loaded = tf.saved_model.load(export_dir) if name == "tf-load" else pstf.load(export_dir)
        loaded.f0(tf.constant(np.ones(2, np.float32)))  # the model runs
    return {"seconds": taken.seconds, "peak_rss": taken.peak_rss, "proto_bytes": _proto_bytes(export_dir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=float, default=0.75, help="GiB of constants for the save/load pairs")
    parser.add_argument("--big", type=float, default=3.0, help="GiB of the SavedModel loaded past 2 GiB")
    parser.add_argument("--step", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(step(args.step[0], float(args.step[1]), args.step[2])))
        return
    work = tempfile.mkdtemp(prefix="tf-saved-model-bench-")
    rows = {}
    try:
        plan = [
            ("tf-save", args.size, "tf"),
            ("tf-load", args.size, "tf"),
            ("ps-save", args.size, "ps"),
            ("ps-load", args.size, "ps"),
            ("prepare-big", args.big, "big"),
            ("ps-load-big", args.big, "big"),
        ]
        for name, size, folder in plan:
            rows[name] = run_step(name, str(size), os.path.join(work, folder))
            rows[name]["seconds_per_gib"] = rows[name]["seconds"] / (rows[name]["proto_bytes"] / (1 << 30))
            print(f"{name}: {rows[name]}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
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
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", "tf_saved_model.json"), "w") as out:
        json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
