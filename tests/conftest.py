"""Shared fixtures: the test data kept in tests/data/ and TensorFlow's C++ Merger as an oracle. Also loads the
hypothesis profile (tests/hypothesis_profiles.py) and, under CI, makes a skip a failure (tests/strict_ci.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hypothesis_profiles
import pytest
from strict_ci import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401  (hooks)
from tf_oracle import TensorFlowMerger, unavailable_reason

DATA = Path(__file__).resolve().parent / "data"
hypothesis_profiles.load()


@pytest.fixture(scope="session")
def riegeli_vectors() -> Path:
    """tests/data/riegeli_vectors: small files written by Google's C++ riegeli (origin and licence in INDEX.md)."""
    return DATA / "riegeli_vectors"


@pytest.fixture(scope="session")
def tf_merger() -> Iterator[TensorFlowMerger]:
    """TensorFlow's C++ Merger::Read in a child process (tests/tf_oracle). Where TensorFlow or g++ is missing
    the test is skipped (a failure under CI)."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with TensorFlowMerger() as merger:
        yield merger
