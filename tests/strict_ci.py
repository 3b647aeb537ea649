"""A pytest plugin loaded by tests/conftest.py: under CI (the CI variable is set) a skipped test is a failure.

Locally a test may skip where an optional tool is missing (TensorFlow, its C++ Merger, grpcio-tools, fsspec, the
AVX2 extension), and `-ra` lists the reasons. CI installs all of them, so a skip there means CI tests less than it
claims; it fails instead, with the skip's reason. Expected failures (xfail) are left alone."""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest


def _fail_if_skipped_in_ci(report: pytest.CollectReport | pytest.TestReport) -> None:
    if not os.environ.get("CI") or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI, where every test must run: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    """A test (or its fixture) that skipped."""
    report = yield
    assert isinstance(report, pytest.TestReport)
    _fail_if_skipped_in_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, object, object]:
    """A whole module that skipped at import (pytest.importorskip at module level)."""
    report = yield
    assert isinstance(report, pytest.CollectReport)
    _fail_if_skipped_in_ci(report)
    return report
