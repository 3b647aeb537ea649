"""Hypothesis profiles, chosen by the HYPOTHESIS_PROFILE variable (default: `ci` where the CI variable is set, else
`dev`); tests/conftest.py loads the chosen one.

- `dev`: random examples at each test's own budget. A failing example is kept in the local example database
  (`.hypothesis/examples/`, not committed) and replayed first by every later run on this machine until it passes.
- `ci`: derandomized (every run tries the same examples, so a red CI run is reproducible and a green one stays
  green), no database (CI starts from a fresh clone), and a `@reproduce_failure` blob printed on failure.
- `stress`: STRESS_FACTOR times each budget, with the local database, for long hunts:
  `HYPOTHESIS_PROFILE=stress python -m pytest tests/core/test_split_merge.py -k unknown`.

Tests state their budget as `examples(n)` (n examples under `dev` and `ci`), so `stress` scales every test alike.
A failure worth keeping for everyone becomes an explicit test or `@example` in the test file: the database keys
its entries by a hash of the test's source, so a committed copy would silently stop replaying once the test
changes."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

STRESS_FACTOR = 50
LOCAL_DATABASE = Path(__file__).resolve().parents[1] / ".hypothesis" / "examples"
PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
_FACTORS = {"dev": 1, "ci": 1, "stress": STRESS_FACTOR}


def examples(count: int) -> int:
    """A test's example budget under the active profile: `count`, or STRESS_FACTOR times it under `stress`."""
    return count * _FACTORS.get(PROFILE, 1)


def load() -> None:
    """Registers the three profiles and loads PROFILE (an unknown name is an error, not a silent default).

    Each derives from hypothesis's own defaults: where it detects CI, hypothesis loads a built-in `ci` profile
    first, whose settings would otherwise leak into `stress`."""
    base = settings.get_profile("default")
    local = DirectoryBasedExampleDatabase(LOCAL_DATABASE)
    settings.register_profile("dev", base, deadline=None, database=local)
    settings.register_profile("ci", base, deadline=None, database=None, derandomize=True, print_blob=True)
    settings.register_profile(
        "stress", base, deadline=None, database=local, max_examples=examples(100), print_blob=True
    )
    settings.load_profile(PROFILE)
