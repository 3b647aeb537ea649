"""Progress bars: drawn on stderr when it is a terminal (here a pseudo-terminal), only after the delay, never with
--quiet, never on stdout, and cleared when the command ends."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import tempfile
import termios
import time

import pytest

from .cli_helpers import GRAPH, SCRIPT, environment


def run_in_terminal(*args, delay: float, timeout: float = 120) -> tuple[int, str, str]:
    """Runs the console script with stderr on a 100-column pseudo-terminal and stdout on a file; returns the exit
    code, what the terminal received and what stdout received."""
    assert SCRIPT is not None
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = environment(PROTO_SPLITTER_PROGRESS_DELAY=str(delay))
    with tempfile.TemporaryFile() as stdout:
        try:
            process = subprocess.Popen(
                [SCRIPT, *map(str, args)], stdin=subprocess.DEVNULL, stdout=stdout, stderr=slave, env=env
            )
        finally:
            os.close(slave)
        received = bytearray()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if not select.select([master], [], [], 1)[0]:
                    continue
                try:
                    piece = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal (the command ended)
                    break
                if not piece:
                    break
                received += piece
            code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            process.kill()
            os.close(master)
        stdout.seek(0)
        return code, received.decode(errors="replace"), stdout.read().decode(errors="replace")


@pytest.mark.parametrize("command", ["verify", "merge"])
def test_a_bar_appears_on_a_terminal_and_is_cleared(work, command):
    args = [work / "graph.cpb"] if command == "verify" else [work / "graph.cpb", work / "m.pb", "--type", GRAPH]
    code, terminal, stdout = run_in_terminal(command, *args, delay=0)
    assert code == 0, terminal
    label = {"verify": "verifying", "merge": "merging"}[command]
    assert f"{label}: " in terminal and "%|" in terminal  # tqdm's bar: "verifying:  40%|####      | 1.2M/3.0M"
    assert "B/s" in terminal or "iB" in terminal  # counted in bytes
    assert label not in stdout and "%|" not in stdout
    last_line = terminal.rsplit("\r", 1)[-1]
    assert label not in last_line  # leave=False: the bar is erased at the end


def test_no_bar_with_quiet_or_before_the_delay(work):
    quiet_code, quiet_terminal, _ = run_in_terminal("verify", work / "graph.cpb", "--quiet", delay=0)
    assert quiet_code == 0
    assert "verifying" not in quiet_terminal and "%|" not in quiet_terminal
    slow_code, slow_terminal, _ = run_in_terminal("verify", work / "graph.cpb", delay=60)
    assert slow_code == 0
    assert "verifying" not in slow_terminal and "%|" not in slow_terminal


def test_no_bar_when_stderr_is_not_a_terminal(cli, work):
    result = cli("verify", work / "graph.cpb", env=environment(PROTO_SPLITTER_PROGRESS_DELAY="0"))
    assert result.code == 0
    assert "verifying" not in result.err and "%|" not in result.err
