"""SavedModels past 2 GiB in TensorFlow: written as saved_model.cpb, read by TensorFlow's C++ Merger,
fingerprinted and loaded by TensorFlow, its functions computing with the big constants.

- A real pstf.save of a module of 2.1 GiB of constants (its graph exported in parts: TensorFlow's own graph
  export cannot serialize a graph past 2 GiB). About 4 minutes and 16 GiB of memory (TensorFlow's saver holds
  seven copies of the constants; see benchmarks/tf_saved_model.py --ceiling).
- A model saved small whose constants are grown to 2.1 GiB in the SavedModel proto
  (proto_splitter.testing.tf_models.grow_constants), loaded with every function run. About 3 minutes and
  19 GiB of memory (TensorFlow's loader holds several copies of the graph)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import proto_splitter as ps
from proto_splitter.splitter import object_size

tf = pytest.importorskip("tensorflow", reason="tensorflow-cpu is not installed (pip install -e '.[test,tf]')")

pytestmark = [pytest.mark.large, pytest.mark.tensorflow]
CONSTANT_BYTES = 240 << 20
X = np.array([1.0, -2.0, 0.5], dtype=np.float32)  # the input every function is called with

LOAD_AND_RUN_IN_A_CHILD = """
import json, sys
import numpy as np
import tensorflow as tf
from proto_splitter import tensorflow as pstf
loaded = pstf.load(sys.argv[1])
x = tf.constant(np.array(json.loads(sys.argv[3]), dtype=np.float32))
print(json.dumps({name: getattr(loaded, name)(x).numpy().tolist() for name in json.loads(sys.argv[2])}))
"""


def load_and_run_in_a_child(export_dir, names: list[str]) -> dict[str, list[float]]:
    """pstf.load of the export, then each named function called with X, in a child process: TensorFlow keeps what
    it loaded (gigabytes here) for the life of its process, which must end with the test."""
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_RUN_IN_A_CHILD, str(export_dir), json.dumps(names), json.dumps(X.tolist())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outputs: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return outputs


@pytest.mark.timeout(1800)
def test_saved_model_past_two_gib_loads_and_runs_in_tensorflow(tmp_path, tf_merger):
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

    from proto_splitter import tensorflow as pstf
    from proto_splitter.testing.tf_models import BigConstantsModule, grow_constants

    export_dir = tmp_path / "model"
    module = BigConstantsModule(9 * 4096, piece_bytes=4096)
    names = list(module.function_names)
    pstf.save(module, export_dir)
    del module
    saved_model = ps.read(export_dir / "saved_model", saved_model_pb2.SavedModel)
    ends = grow_constants(saved_model, CONSTANT_BYTES)
    assert len(ends) == len(names)
    path = ps.write(saved_model, export_dir / "saved_model")
    size = object_size(saved_model)  # upb's ByteSize() fails past 2 GiB
    del saved_model
    gc.collect()
    assert path.endswith(".cpb") and size > (2 << 30) and not (export_dir / "saved_model.pb").exists()
    assert tf_merger.read_size(str(export_dir / "saved_model"), saved_model_pb2.SavedModel) == size
    assert fingerprinting.CreateFingerprintDef(str(export_dir))
    outputs = sorted(tuple(values) for values in load_and_run_in_a_child(export_dir, names).values())
    assert outputs == sorted(tuple((X * first + last).tolist()) for first, last in ends)  # one per constant
    assert os.path.getsize(path) > size


SAVE_IN_A_CHILD = """
import json, sys
from proto_splitter import tensorflow as pstf
from proto_splitter.testing.tf_models import BigConstantsModule
module = BigConstantsModule(int(sys.argv[1]))
print(json.dumps({"path": pstf.save(module, sys.argv[2]), "names": module.function_names, "ends": module.ends}))
"""


@pytest.mark.timeout(1800)
def test_real_save_past_two_gib_loads_and_runs(tmp_path, tf_merger):
    """pstf.save of a module built in memory, not grown afterwards: the save runs in a child process, whose
    memory (TensorFlow keeps every traced function) is gone before the load, in another. The first and the last
    function run (TensorFlow's first call of a function holds about three more copies of its constant)."""
    from tensorflow.core.protobuf import saved_model_pb2

    export_dir = tmp_path / "model"
    saved = subprocess.run(
        [sys.executable, "-c", SAVE_IN_A_CHILD, str(CONSTANT_BYTES * 9), str(export_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert saved.returncode == 0, saved.stderr[-3000:]
    result = json.loads(saved.stdout.strip().splitlines()[-1])
    assert result["path"] == str(export_dir / "saved_model.cpb")
    size = tf_merger.read_size(str(export_dir / "saved_model"), saved_model_pb2.SavedModel)
    assert size > CONSTANT_BYTES * 9 > (2 << 30)
    checked = [*zip(result["names"], result["ends"], strict=True)][:: len(result["names"]) - 1]
    outputs = load_and_run_in_a_child(export_dir, [name for name, _ in checked])
    for name, (first, last) in checked:
        assert outputs[name] == (X * first + last).tolist(), name
