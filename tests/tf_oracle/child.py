"""The child process of the TensorFlow oracle: loads TensorFlow, builds the Merger shim against the installed
wheel (once, cached), then answers read requests framed on stdin/stdout until stdin closes.

Run by tests/tf_oracle/__init__.py; an abort inside TensorFlow kills only this process."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SHIM_SOURCE = Path(__file__).with_name("merger_shim.cc")
ERROR_SIZE = 16384


def build_shim() -> ctypes.CDLL:
    """Compiles merger_shim.cc against the wheel's headers and libtensorflow_framework (cached by TensorFlow
    version and source hash) and loads it."""
    import tensorflow as tf  # loads libtensorflow_framework.so.2, which the shim links against

    tf_dir = Path(tf.__file__).parent
    digest = hashlib.sha256(SHIM_SOURCE.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("TF_ORACLE_CACHE", Path(tempfile.gettempdir()) / "proto_splitter_tf_oracle"))
    cache.mkdir(parents=True, exist_ok=True)
    library = cache / f"merger_shim-{tf.__version__}-{digest}.so"
    if not library.exists():
        partial = library.with_suffix(f".{os.getpid()}.tmp")
        command = [
            "g++",
            "-shared",
            "-fPIC",
            "-O1",
            "-std=c++17",
            "-D_GLIBCXX_USE_CXX11_ABI=1",
            f"-I{tf_dir / 'include'}",
            str(SHIM_SOURCE),
            f"-L{tf_dir}",
            "-l:libtensorflow_framework.so.2",
            f"-Wl,-rpath,{tf_dir}",
            "-o",
            str(partial),
        ]
        subprocess.run(command, check=True, stdout=sys.stderr)
        os.replace(partial, library)
    shim = ctypes.CDLL(str(library))
    shim.shim_merger_read.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.c_char_p,
        ctypes.c_size_t,
    ]
    shim.shim_free.argtypes = [ctypes.c_void_p]
    return shim


def read_frame(stream) -> bytes | None:
    """One length-prefixed frame (8 bytes little-endian length, then the bytes); None at end of input."""
    head = stream.read(8)
    if len(head) < 8:
        return None
    return stream.read(int.from_bytes(head, "little"))


def write_frame(stream, data: bytes) -> None:
    stream.write(len(data).to_bytes(8, "little"))
    stream.write(data)


def answer(shim: ctypes.CDLL, request: dict, descriptors: bytes) -> tuple[dict, bytes]:
    """Runs one Merger::Read; returns the reply header and payload (the merged message, or nothing)."""
    want_bytes = request["op"] == "read"
    out, size, error = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.create_string_buffer(ERROR_SIZE)
    code = shim.shim_merger_read(
        descriptors,
        len(descriptors),
        request["type"].encode(),
        request["prefix"].encode(),
        ctypes.byref(out) if want_bytes else None,
        ctypes.byref(size),
        error,
        ERROR_SIZE,
    )
    if code:
        return {"status": "error", "code": code, "message": error.value.decode(errors="replace")}, b""
    if not want_bytes:
        return {"status": "ok", "size": size.value}, b""
    try:
        return {"status": "ok", "size": size.value}, ctypes.string_at(out.value, size.value)
    finally:
        shim.shim_free(out)


def main() -> None:
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # anything TensorFlow's Python side prints must not corrupt the reply stream
    shim = build_shim()
    write_frame(replies, json.dumps({"status": "ready"}).encode())
    replies.flush()
    while (header := read_frame(requests)) is not None:
        descriptors = read_frame(requests) or b""
        reply, payload = answer(shim, json.loads(header), descriptors)
        write_frame(replies, json.dumps(reply).encode())
        write_frame(replies, payload)
        replies.flush()


if __name__ == "__main__":
    main()
