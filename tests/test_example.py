"""The README's "Try it" command (examples/round_trip.py) end to end, at a size that still needs chunks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_round_trip_example_writes_and_reads_back_equal(tmp_path):
    # 40 constants of 2 MiB cut into chunks of at most 16 MiB (the README's run: 1150 constants, 2.3 GiB)
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "round_trip.py"),
            str(tmp_path),
            "--constants",
            "40",
            "--max-chunk-size-mib",
            "16",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "round trip equal" in done.stdout
    assert (tmp_path / "model.cpb").is_file()
    assert "chunks" in done.stdout
