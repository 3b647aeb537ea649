"""A small HTTP server for tests: serves files from a folder, honours single `Range` requests (including
suffix ranges), and counts requests and bytes served. Listens on 127.0.0.1 only."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class RangeServer:
    """Serves `root` on 127.0.0.1:<free port> in a background thread; `url(name)` gives a file's URL."""

    def __init__(self, root: Path, short_ranges: bool = False):
        self.root = root
        self.short_ranges = short_ranges
        self.requests = 0
        self.bytes_served = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RangeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, name: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = self.bytes_served = 0

    def _count(self, size: int) -> None:
        with self._lock:
            self.requests += 1
            self.bytes_served += size

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                path = server.root / self.path.lstrip("/")
                if not path.is_file():
                    server._count(0)
                    self.send_error(404)
                    return
                data = path.read_bytes()
                size = len(data)
                match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
                if not match:
                    server._count(size)
                    self.send_response(200)
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                first, last = match.groups()
                if first == "":
                    start, end = max(0, size - int(last)), size
                else:
                    start, end = int(first), min(size, int(last) + 1 if last else size)
                body = data[start:end]
                if server.short_ranges:
                    body = body[: len(body) // 2]
                server._count(len(body))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
