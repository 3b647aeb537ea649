"""Timing and peak-memory measurement shared by the benchmark scripts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import psutil

PHASE_MARK = "@phase "  # a line on stderr: "@phase <time.monotonic()> [name]"; without a name, phases stop


@dataclass
class Measurement:
    """Wall time of one phase and the peak RSS reached during it, relative to the RSS when it began.

    The peak comes from a sampling thread, which cannot run while a C extension holds the GIL (a big
    protobuf serialization, for one); `run_watched` samples from outside and sees those peaks too.
    `started_at` / `ended_at` are time.monotonic() values, which on Linux compare across processes."""

    seconds: float = 0.0
    peak_rss: int = 0
    start_rss: int = 0
    started_at: float = 0.0
    ended_at: float = 0.0
    marked: bool = False

    @property
    def peak_growth(self) -> int:
        return self.peak_rss - self.start_rss

    def mark(self, name: str) -> None:
        """Starts the phase `name` of the measured block, announced on stderr for a watching process
        (`phase_peaks` finds each phase's peak RSS from the watcher's samples)."""
        self.marked = True
        print(f"{PHASE_MARK}{time.monotonic():.4f} {name}", file=sys.stderr, flush=True)


@contextmanager
def measure(interval: float = 0.005, phase: str | None = None, pid: int | None = None):
    """Times the block and samples the RSS of this process (or of process `pid`) in a thread to find its peak.
    `phase` names the block's first phase (see Measurement.mark)."""
    process = psutil.Process(pid)
    result = Measurement(start_rss=process.memory_info().rss)
    result.peak_rss = result.start_rss
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            result.peak_rss = max(result.peak_rss, process.memory_info().rss)
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    if phase:
        result.mark(phase)
    result.started_at = time.monotonic()
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        result.ended_at = time.monotonic()
        done.set()
        sampler.join()
        result.peak_rss = max(result.peak_rss, process.memory_info().rss)
        if result.marked:
            print(f"{PHASE_MARK}{result.ended_at:.4f}", file=sys.stderr, flush=True)


@dataclass
class WatchedRun:
    """A child process run under a memory watch: its exit, output, the RSS of its process tree sampled over
    time (time.monotonic(), bytes), and why the watcher stopped it (None when it ended by itself)."""

    returncode: int
    stdout: str
    stderr: str
    samples: list[tuple[float, int]]
    seconds: float
    stopped: str | None = None

    @property
    def peak_rss(self) -> int:
        return max((rss for _, rss in self.samples), default=0)


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    for process in [root, *root.children(recursive=True)]:
        with suppress(psutil.NoSuchProcess):  # ended between the listing and the reading
            total += process.memory_info().rss
    return total


def run_watched(
    command: Sequence[str], cap: int, min_available: int, interval: float = 0.02, env: dict | None = None
) -> WatchedRun:
    """Runs `command` in a new session, sampling the RSS of its process tree, and kills the whole session as
    soon as that passes `cap` bytes or the machine's available memory falls below `min_available` bytes:
    before the kernel's OOM killer would pick a victim on a shared machine."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, start_new_session=True, env=env)
        root = psutil.Process(child.pid)
        samples: list[tuple[float, int]] = []
        stopped = None
        while child.poll() is None:
            try:
                rss = _tree_rss(root)
            except psutil.NoSuchProcess:
                continue
            samples.append((time.monotonic(), rss))
            if rss > cap:
                stopped = f"exceeds the memory cap ({gib(cap)})"
            elif psutil.virtual_memory().available < min_available:
                stopped = f"the machine's available memory fell below {gib(min_available)} (this step: {gib(rss)})"
            if stopped:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                break
            time.sleep(interval)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = (stream.read().decode(errors="replace") for stream in (out, err))
        return WatchedRun(child.returncode, stdout, stderr, samples, seconds, stopped)


def peak_between(samples: Sequence[tuple[float, int]], start: float, end: float) -> int | None:
    """The highest RSS sampled in [start, end], or None when no sample falls there."""
    return max((rss for moment, rss in samples if start <= moment <= end), default=None)


def phase_peaks(stderr: str, samples: Sequence[tuple[float, int]]) -> list[dict]:
    """The phases a watched child announced (Measurement.mark), in order, each with its start (`at`), duration
    and the peak RSS the watcher sampled during it (None if too short to be sampled); a phase still open when
    the child ended runs to the last sample."""
    marks = []
    for line in stderr.splitlines():
        if line.startswith(PHASE_MARK):
            moment, _, name = line[len(PHASE_MARK) :].partition(" ")
            marks.append((float(moment), name.strip()))
    last = samples[-1][0] if samples else 0.0
    phases = []
    for index, (moment, name) in enumerate(marks):
        if name:
            end = marks[index + 1][0] if index + 1 < len(marks) else max(last, moment)
            peak = peak_between(samples, moment, end)
            phases.append({"phase": name, "at": moment, "seconds": end - moment, "peak_rss": peak})
    return phases


UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    """Bytes from "64M", "1.5G", "4096"."""
    unit = text[-1].upper()
    return int(float(text[:-1]) * UNITS[unit]) if unit in UNITS else int(text)


def gib(value: float) -> str:
    return f"{value / 2**30:.2f} GiB"
