"""A small progress bar on stderr: drawn only when stderr is a terminal, not with --quiet, and only once an
operation has lasted a second (PROTO_SPLITTER_PROGRESS_DELAY overrides the delay, for tests)."""

from __future__ import annotations

import os
import shutil
import sys
import time

from .common import human

_REFRESH = 0.1


def _delay() -> float:
    try:
        return float(os.environ.get("PROTO_SPLITTER_PROGRESS_DELAY", "1"))
    except ValueError:
        return 1.0


class Progress:
    """Counts bytes done out of `total`; use as a context manager, call advance() or update()."""

    def __init__(self, label: str, total: int | None, enabled: bool):
        self.label, self.total, self.done = label, total or 0, 0
        self._enabled = enabled
        self._start = time.monotonic()
        self._delay = _delay()
        self._drawn_at = 0.0
        self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def advance(self, amount: int) -> None:
        self.update(self.done + amount)

    def update(self, done: int) -> None:
        self.done = done
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._start < self._delay or now - self._drawn_at < _REFRESH:
            return
        self._drawn_at = now
        self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        fraction = min(self.done / self.total, 1.0) if self.total else 0.0
        width = shutil.get_terminal_size((80, 20)).columns
        numbers = f" {fraction * 100:3.0f}% {human(self.done)}/{human(self.total)} {human(rate)}/s"
        if self.total and rate > 0 and self.done < self.total:
            numbers += f" ETA {int((self.total - self.done) / rate)}s"
        bar_width = max(10, min(40, width - len(self.label) - len(numbers) - 4))
        filled = int(bar_width * fraction)
        line = f"{self.label} [{'#' * filled}{'.' * (bar_width - filled)}]{numbers}"
        sys.stderr.write("\r" + line[: width - 1])
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            width = shutil.get_terminal_size((80, 20)).columns
            sys.stderr.write("\r" + " " * (width - 1) + "\r")
            sys.stderr.flush()
            self._shown = False


def progress(args, label: str, total: int | None) -> Progress:
    """A progress bar for a subcommand run with `args` (honours --quiet and whether stderr is a terminal)."""
    enabled = not getattr(args, "quiet", False) and sys.stderr.isatty()
    return Progress(label, total, enabled)
