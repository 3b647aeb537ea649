"""TensorFlow's own C++ Merger as a test oracle, run in a child process.

`TensorFlowMerger().read(prefix, MessageClass)` merges `prefix.cpb` (or reads `prefix.pb`) with TensorFlow's
`Merger::Read` from the installed tensorflow-cpu wheel and returns the message. The merge runs in one
long-lived child process (importing TensorFlow costs seconds), so an abort inside TensorFlow becomes a
`TensorFlowCrashed` failure of that one test, never a crash of the test run; the next call starts a new child.
"""

from __future__ import annotations

import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, TypeVar

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)
CHILD = Path(__file__).with_name("child.py")
START_TIMEOUT = 300.0  # importing TensorFlow and compiling the shim the first time


class TensorFlowMergerError(RuntimeError):
    """TensorFlow's Merger returned an error status (a file it refuses)."""


class TensorFlowCrashed(Exception):
    """The child process died inside TensorFlow (an abort, a crash) or did not answer in time."""


def unavailable_reason() -> str | None:
    """Why the oracle cannot run here (no TensorFlow, no g++), or None when it can."""
    if importlib.util.find_spec("tensorflow") is None:
        return "TensorFlow is not installed (python -m pip install -e '.[test,tf]')"
    if shutil.which("g++") is None:
        return "g++ is not installed (the Merger shim is compiled against the tensorflow-cpu wheel)"
    return None


def descriptor_set(descriptor: Descriptor) -> bytes:
    """The serialized FileDescriptorSet of a message type's file and everything it imports."""
    files, seen = descriptor_pb2.FileDescriptorSet(), set()

    def add(file) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            add(dependency)
        file.CopyToProto(files.file.add())

    add(descriptor.file)
    return files.SerializeToString()


class TensorFlowMerger:
    """A handle on the oracle child; `read`, `read_size`; restarts the child after a crash."""

    def __init__(self, timeout: float = 900.0) -> None:
        self._timeout = timeout
        self._process: subprocess.Popen | None = None
        self._stderr: BinaryIO | None = None

    def read(self, prefix: str | os.PathLike, message_class: type[M]) -> M:
        """TensorFlow's Merger::Read(prefix) into a `message_class` (the merged message must be < 2 GiB)."""
        _, payload = self._request("read", prefix, message_class)
        return message_class.FromString(payload)

    def read_size(self, prefix: str | os.PathLike, message_class: type[Message]) -> int:
        """Merges like `read` but returns only the merged ByteSizeLong (works past 2 GiB)."""
        reply, _ = self._request("size", prefix, message_class)
        return int(reply["size"])

    @property
    def pid(self) -> int | None:
        """The child process's id while it runs (a benchmark samples its memory), else None."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def close(self) -> None:
        """Ends the child process."""
        if self._process is not None:
            if self._process.stdin:
                self._process.stdin.close()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> TensorFlowMerger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the child process ------------------------------------------------------------------------------

    def _request(self, op: str, prefix: str | os.PathLike, message_class: type[Message]) -> tuple[dict, bytes]:
        process = self._child()
        header = {"op": op, "prefix": os.fspath(prefix), "type": message_class.DESCRIPTOR.full_name}
        try:
            assert process.stdin is not None
            _write_frame(process.stdin, json.dumps(header).encode())
            _write_frame(process.stdin, descriptor_set(message_class.DESCRIPTOR))
            process.stdin.flush()
            deadline = time.monotonic() + self._timeout
            reply = json.loads(self._read_frame(deadline))
            payload = self._read_frame(deadline)
        except (OSError, TensorFlowCrashed) as error:
            raise self._crashed(f"while merging {header['prefix']} as {header['type']}: {error}") from None
        if reply["status"] != "ok":
            raise TensorFlowMergerError(f"TensorFlow Merger::Read failed ({reply['code']}): {reply['message']}")
        return reply, payload

    def _child(self) -> subprocess.Popen:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self.close()
        self._stderr = tempfile.TemporaryFile()
        environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        self._process = subprocess.Popen(
            [sys.executable, str(CHILD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=environment,
        )
        try:
            ready = json.loads(self._read_frame(time.monotonic() + START_TIMEOUT))
        except TensorFlowCrashed as error:
            raise self._crashed(f"while starting: {error}") from None
        if ready.get("status") != "ready":
            raise self._crashed(f"unexpected greeting {ready!r}")
        return self._process

    def _read_frame(self, deadline: float) -> bytes:
        size = int.from_bytes(self._read_exact(8, deadline), "little")
        return self._read_exact(size, deadline)

    def _read_exact(self, count: int, deadline: float) -> bytes:
        assert self._process is not None and self._process.stdout is not None
        handle = self._process.stdout.fileno()
        pieces, remaining = [], count
        while remaining:
            if not select.select([handle], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise TensorFlowCrashed("no answer in time")
            piece = os.read(handle, min(remaining, 1 << 24))
            if not piece:
                raise TensorFlowCrashed("the child process ended")
            pieces.append(piece)
            remaining -= len(piece)
        return b"".join(pieces)

    def _crashed(self, what: str) -> TensorFlowCrashed:
        """Kills the child and describes its end, with the tail of what it printed."""
        assert self._process is not None and self._stderr is not None
        self._process.kill()
        code = self._process.wait()
        self._stderr.seek(0)
        tail = self._stderr.read()[-4000:].decode(errors="replace")
        self._process = None
        self._stderr.close()
        self._stderr = None
        return TensorFlowCrashed(f"TensorFlow's Merger process died {what} (exit code {code}):\n{tail}")


def _write_frame(stream: BinaryIO, data: bytes) -> None:
    stream.write(len(data).to_bytes(8, "little"))
    stream.write(data)
