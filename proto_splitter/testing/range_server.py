"""A loopback HTTP server for tests and benchmarks: serves a folder's files on 127.0.0.1, answering single `Range`
requests (suffix ranges too) by reading only the bytes asked for (sendfile), and counting requests, bytes sent
and the largest answer. Misbehaviours, for tests: `mode="ignore-ranges"` answers 200 with the whole file,
"short" sends half of each range, "drop" closes the connection halfway through each body, "stall" sends the
headers and then nothing (until the server stops). `required_headers` are refused (403) when missing.

    with RangeServer(folder) as server:
        url = server.url("model.cpb")
    python -m proto_splitter.testing.range_server FOLDER    # in a process of its own: prints its base URL
"""

from __future__ import annotations

import argparse
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODES = ("normal", "ignore-ranges", "short", "drop", "stall")


class RangeServer:
    """Serves `root` on 127.0.0.1:<free port> in a background thread; `url(name)` gives a file's URL."""

    def __init__(
        self, root: Path | str, mode: str = "normal", port: int = 0, required_headers: dict[str, str] | None = None
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.root, self.mode, self.required_headers = Path(root), mode, dict(required_headers or {})
        self.requests = self.bytes_served = self.largest_answer = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="range-server")

    def __enter__(self) -> RangeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def url(self, name: str = "") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = self.bytes_served = self.largest_answer = 0

    def _count(self, size: int) -> None:
        with self._lock:
            self.requests += 1
            self.bytes_served += size
            self.largest_answer = max(self.largest_answer, size)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if any(self.headers.get(key) != value for key, value in server.required_headers.items()):
                    server._count(0)
                    self.send_error(403)
                    return
                path = server.root / self.path.lstrip("/")
                if not path.is_file():
                    server._count(0)
                    self.send_error(404)
                    return
                size = path.stat().st_size
                match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
                if server.mode == "ignore-ranges" or not match or match.groups() == ("", ""):
                    self._send(path, 200, 0, size, size)
                    return
                first, last = match.groups()
                if first == "":
                    start, end = max(0, size - int(last)), size
                else:
                    start, end = int(first), min(size, int(last) + 1 if last else size)
                if start >= end:
                    server._count(0)
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._send(path, 206, start, end, size)

            def _send(self, path: Path, status: int, start: int, end: int, size: int) -> None:
                length = end - start
                sent = length // 2 if server.mode in ("short", "drop") else length
                self.send_response(status)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
                self.send_header("Content-Length", str(sent if server.mode == "short" else length))
                self.end_headers()
                if server.mode == "stall":
                    server._count(0)
                    server._stopping.wait()
                    self.close_connection = True
                    return
                try:
                    with open(path, "rb") as handle:
                        done = self.connection.sendfile(handle, start, sent) if sent else 0
                except (BrokenPipeError, ConnectionResetError):  # the client hung up (as it should on a 200)
                    done = 0
                    self.close_connection = True
                server._count(done)
                if server.mode == "drop":
                    self.close_connection = True

        return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a folder on 127.0.0.1 with HTTP range requests.")
    parser.add_argument("root")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=MODES, default="normal")
    args = parser.parse_args(argv)
    with RangeServer(args.root, args.mode, args.port) as server:
        print(server.url(), flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
