"""Progress bars on stderr, drawn by tqdm: only when stderr is a terminal, not with --quiet, and only once an
operation has lasted a second (PROTO_SPLITTER_PROGRESS_DELAY overrides the delay, for tests)."""

from __future__ import annotations

import argparse
import os
import sys
from types import TracebackType

from tqdm import tqdm

_REFRESH = 0.1  # seconds between redraws at most


def _delay() -> float:
    try:
        return float(os.environ.get("PROTO_SPLITTER_PROGRESS_DELAY", "1"))
    except ValueError:
        return 1.0


class Progress:
    """Bytes done out of `total` (None: unknown); a context manager that clears its bar when done. Callers
    report either the bytes just processed (`advance`) or a position reached (`update`)."""

    def __init__(self, label: str, total: int | None, enabled: bool) -> None:
        self._bar = tqdm(
            total=total,
            desc=label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=sys.stderr,
            disable=not enabled,
            delay=_delay(),
            mininterval=_REFRESH,
            leave=False,
            dynamic_ncols=True,
        )

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def advance(self, amount: int) -> None:
        """Counts `amount` more bytes done."""
        self._bar.update(amount)

    def update(self, done: int) -> None:
        """Sets the bytes done so far to `done`."""
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        """Removes the bar from the terminal (if it was drawn)."""
        self._bar.close()


def progress(args: argparse.Namespace, label: str, total: int | None) -> Progress:
    """A progress bar for a subcommand run with `args` (honours --quiet and whether stderr is a terminal)."""
    enabled = not getattr(args, "quiet", False) and sys.stderr.isatty()
    return Progress(label, total, enabled)
