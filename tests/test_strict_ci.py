"""tests/strict_ci.py: locally a skip is a skip; under CI it is a failure carrying the skip's reason."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

SKIPS_IN_A_TEST = """
import pytest

def test_runs():
    pass

def test_skips():
    pytest.skip("no frobnicator here")

@pytest.mark.xfail(reason="known bug", strict=True)
def test_known_bug():
    assert False
"""
SKIPS_THE_MODULE = """
import pytest

pytest.importorskip("no_such_module_for_strict_ci")

def test_never_runs():
    pass
"""


def run_pytest(folder: Path, name: str, ci: bool) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "CI"}
    environment["PYTHONPATH"] = os.pathsep.join([str(TESTS), environment.get("PYTHONPATH", "")])
    if ci:
        environment["CI"] = "true"
    command = [sys.executable, "-m", "pytest", "-p", "strict_ci", "-p", "no:cacheprovider", "-rA", name]
    return subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("name", "ci", "exit_code", "expected"),
    [
        (".", False, 0, ["1 passed, 2 skipped, 1 xfailed", "no frobnicator here", "no_such_module_for_strict_ci"]),
        (
            "test_in_a_test.py",
            True,
            1,
            ["1 failed, 1 passed, 1 xfailed", "skipped under CI, where every test must run: Skipped: no frobnicator"],
        ),
        ("test_whole_module.py", True, 2, ["skipped under CI, where every test must run", "no_such_module_for"]),
    ],
    ids=["local skips stay skips", "a skip inside a test fails under CI", "a module skipped at import fails"],
)
def test_skips_under_ci_and_locally(tmp_path, name, ci, exit_code, expected):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_in_a_test.py").write_text(textwrap.dedent(SKIPS_IN_A_TEST))
    (tmp_path / "test_whole_module.py").write_text(textwrap.dedent(SKIPS_THE_MODULE))
    done = run_pytest(tmp_path, name, ci)
    assert done.returncode == exit_code, done.stdout
    for text in expected:
        assert text in done.stdout
