"""moto's standalone S3 server (`pip install 'moto[server]'`) in a child process on 127.0.0.1, the way s3fs's own
test suite runs it, for tests and benchmarks of `s3://` reads and writes through s3fs.

    with MotoServer(temp_dir) as server:
        server.create_bucket("models")
        ps.write(message, "s3://models/model", storage_options=server.storage_options)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def storage_options_for(endpoint_url: str) -> dict[str, Any]:
    """What s3fs needs to reach a moto server at `endpoint_url` (moto accepts any credentials)."""
    return {
        "endpoint_url": endpoint_url,
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "us-east-1"},
    }


class MotoServer:
    """`python -m moto.server` on 127.0.0.1:<free port> (or `launcher`, a script taking the same arguments).
    Its objects live in its memory and temporary files (under `temp_dir` when given: a multi-GiB object needs
    room there)."""

    def __init__(
        self,
        temp_dir: str | os.PathLike[str] | None = None,
        startup_seconds: float = 60.0,
        launcher: str | os.PathLike[str] | None = None,
    ):
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._temp_dir, self._startup_seconds = temp_dir, startup_seconds
        self._entry = [os.fspath(launcher)] if launcher is not None else ["-m", "moto.server"]
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def storage_options(self) -> dict[str, Any]:
        """What s3fs needs to reach this server."""
        return storage_options_for(self.endpoint_url)

    def __enter__(self) -> MotoServer:
        environment = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        if self._temp_dir is not None:
            environment["TMPDIR"] = os.fspath(self._temp_dir)
        self._process = subprocess.Popen(
            [sys.executable, *self._entry, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
        deadline = time.monotonic() + self._startup_seconds
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=5):
                    return self
            except (urllib.error.URLError, OSError):
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError("moto's server did not start (is moto[server] installed?)") from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def reset(self) -> None:
        """Forgets every bucket and object."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def create_bucket(self, name: str) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}/{name}", method="PUT")
        with urllib.request.urlopen(request, timeout=30):
            pass
