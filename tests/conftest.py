"""Shared fixtures: the `shared/` folder beside the repository and TensorFlow's C++ Merger as an oracle."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tf_oracle import TensorFlowMerger, unavailable_reason

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PROTO_SPLITTER_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared/ folder (real Riegeli files, the TensorFlow oracle); skips when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared folder not found at {SHARED} (set PROTO_SPLITTER_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def tf_merger() -> Iterator[TensorFlowMerger]:
    """TensorFlow's C++ Merger::Read in a child process (tests/tf_oracle). Where TensorFlow or g++ is missing
    the test is skipped, except under CI (the CI variable is set), where that is a failure."""
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs TensorFlow's Merger as oracle: {reason}")
        pytest.skip(reason)
    with TensorFlowMerger() as merger:
        yield merger
