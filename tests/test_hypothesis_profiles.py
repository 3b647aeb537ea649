"""tests/hypothesis_profiles.py: which profile each environment gets, and what each profile sets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPORT = """
import json, hypothesis_profiles
from hypothesis import settings
hypothesis_profiles.load()
current = settings.default
print(json.dumps({
    "profile": hypothesis_profiles.PROFILE,
    "derandomize": current.derandomize,
    "database": None if current.database is None else str(current.database.path),
    "max_examples": current.max_examples,
    "budget_of_40": hypothesis_profiles.examples(40),
    "deadline": current.deadline,
}))
"""


def loaded(**environment: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in ("CI", "HYPOTHESIS_PROFILE")}
    clean.update(environment, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", REPORT], env=clean, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, {"profile": "dev", "derandomize": False, "local database": True, "budget_of_40": 40}),
        ({"CI": "true"}, {"profile": "ci", "derandomize": True, "local database": False, "budget_of_40": 40}),
        (
            {"CI": "true", "HYPOTHESIS_PROFILE": "stress"},
            {"profile": "stress", "derandomize": False, "local database": True, "budget_of_40": 2000},
        ),
    ],
    ids=["local default", "CI", "stress chosen by HYPOTHESIS_PROFILE"],
)
def test_profile_for_the_environment(environment, expected):
    done = loaded(**environment)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["profile"] == expected["profile"]
    assert report["derandomize"] == expected["derandomize"]
    local = str(TESTS.parent / ".hypothesis" / "examples")
    assert report["database"] == (local if expected["local database"] else None)
    assert report["budget_of_40"] == expected["budget_of_40"]
    assert report["max_examples"] == (5000 if expected["profile"] == "stress" else 100)
    assert report["deadline"] is None


def test_an_unknown_profile_is_an_error():
    done = loaded(HYPOTHESIS_PROFILE="nope")
    assert done.returncode != 0
    assert "nope" in done.stderr
