"""Shared fixtures: the `shared/` folder beside the repository and TensorFlow's C++ Merger as an oracle."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PROTO_SPLITTER_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared/ folder (real Riegeli files, the TensorFlow oracle); skips when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared folder not found at {SHARED} (set PROTO_SPLITTER_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def tf_merger(shared_dir):
    """TensorFlow's C++ Merger::Read (shared/tf_oracle); skips when TensorFlow is not installed."""
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed: pip install -e '.[test,tf]' runs TensorFlow's Merger as oracle")
    oracle = shared_dir / "tf_oracle"
    if not (oracle / "tf_merger.py").is_file():
        pytest.skip(f"TensorFlow oracle not found in {oracle}")
    sys.path.insert(0, str(oracle))
    import tf_merger

    return tf_merger
