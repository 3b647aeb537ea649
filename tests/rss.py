"""Peak memory of a block of a test, sampled: for the large tests' memory bounds."""

from __future__ import annotations

import contextlib
import threading

import psutil


@contextlib.contextmanager
def rss_growth(figures: dict, name: str):
    """Records in figures[name] how far this process's RSS rose above its start during the block (sampled)."""
    process, done = psutil.Process(), threading.Event()
    start = peak = process.memory_info().rss

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.01):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield
    finally:
        done.set()
        sampler.join()
        figures[name] = max(peak, process.memory_info().rss) - start
