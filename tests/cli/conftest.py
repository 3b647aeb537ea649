"""Fixtures for the command line tests (helpers live in cli_helpers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli_helpers import Files, run_cli


@pytest.fixture(scope="session")
def cli():
    """Runs the installed `proto-splitter` console script as a subprocess."""
    return run_cli


@pytest.fixture(scope="session")
def files(tmp_path_factory) -> Files:
    return Files.create(tmp_path_factory.mktemp("cli_files"))


@pytest.fixture
def work(tmp_path, files) -> Path:
    """A fresh folder holding copies of the session's files (tests may damage them)."""
    files.copy_to(tmp_path)
    return tmp_path
