"""The checked-in *_pb2 modules are exactly what scripts/generate_protos.py produces from protos/."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_generated_modules_are_current():
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "generate_protos.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_our_protos_never_collide_with_tensorflow_names():
    from proto_splitter.proto import chunk_pb2

    assert chunk_pb2.DESCRIPTOR.package == "proto_splitter.v1"
    assert chunk_pb2.ChunkMetadata.DESCRIPTOR.full_name != "tensorflow.proto_splitter.ChunkMetadata"
