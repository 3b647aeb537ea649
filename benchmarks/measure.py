"""Timing and peak-memory measurement shared by the benchmark scripts."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import psutil


@dataclass
class Measurement:
    """Wall time of one phase and the peak RSS reached during it, relative to the RSS when it began."""

    seconds: float = 0.0
    peak_rss: int = 0
    start_rss: int = 0

    @property
    def peak_growth(self) -> int:
        return self.peak_rss - self.start_rss


@contextmanager
def measure(interval: float = 0.005, pid: int | None = None):
    """Times the block and samples the RSS of this process (or of process `pid`) in a thread to find its peak."""
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
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        result.peak_rss = max(result.peak_rss, process.memory_info().rss)


UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    """Bytes from "64M", "1.5G", "4096"."""
    unit = text[-1].upper()
    return int(float(text[:-1]) * UNITS[unit]) if unit in UNITS else int(text)


def gib(value: float) -> str:
    return f"{value / 2**30:.2f} GiB"
