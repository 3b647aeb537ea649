"""Streaming a GraphDef-like message between two processes over a pipe and a loopback TCP socket: time, and
the peak memory of each side. Targets (issue 6): the sender's memory grows by less than one chunk + 64 MiB
above the message it holds; the receiver's grows by less than 1.3x the message's serialized size.

    python benchmarks/streaming.py [--size 1G] [--chunk 64M] [--options uncompressed,zstd:1]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import multiprocessing
import os
import queue
import socket
import sys
from pathlib import Path

import psutil
from measure import measure, parse_size

CONSTANT = 2 << 20


def build(size: int):
    from proto_splitter.testing.graphs import graph_def_like

    return graph_def_like(max(1, size // CONSTANT), small_nodes=size // CONSTANT * 20)


def digest(graph) -> str:
    """A cheap fingerprint of the graph: node names and every constant's bytes."""
    hasher = hashlib.sha256()
    for node in graph.node:
        hasher.update(node.name.encode())
        for attr in node.attr.values():
            hasher.update(attr.tensor.content)
    return hasher.hexdigest()


def sender(make, chunk: int, options: str | None, connect, results) -> None:
    import proto_splitter as ps

    graph = make()
    expected, message_bytes = digest(graph), graph.ByteSize()
    out = connect()
    with measure() as sent:
        ps.write(graph, out, max_chunk_size=chunk, options=options)
        out.flush()
    out.close()
    results.put(
        (
            "sender",
            {
                "seconds": sent.seconds,
                "peak_growth": sent.peak_growth,
                "message_bytes": message_bytes,
                "digest": expected,
            },
        )
    )


def receiver(accept, results) -> None:
    import proto_splitter as ps
    from proto_splitter.testing.test_message3_pb2 import Graph

    stream = accept()
    stream.peek(1)  # the clock starts when the sender starts sending, not while it builds its message
    base = psutil.Process().memory_info().rss
    with measure() as received:
        graph = ps.read(stream, Graph)
    results.put(
        (
            "receiver",
            {
                "seconds": received.seconds,
                "peak_growth": received.peak_rss - base,
                "peak_rss": received.peak_rss,
                "start_rss": base,
                "digest": digest(graph),
                "nodes": len(graph.node),
            },
        )
    )


def run(transport: str, make, chunk: int, options: str | None) -> dict:
    """One transfer of the message `make()` builds (in the sending process): the figures of both sides."""
    context = multiprocessing.get_context("fork")  # the children inherit the pipe ends and the listener
    results = context.Queue()
    if transport == "pipe":
        read_end, write_end = os.pipe()
        recv = context.Process(target=receiver, args=(_FdOpener(read_end, write_end, "rb"), results))
        send = context.Process(
            target=sender, args=(make, chunk, options, _FdOpener(write_end, read_end, "wb"), results)
        )
        recv.start(), send.start()
        os.close(read_end), os.close(write_end)
    else:
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        recv = context.Process(target=receiver, args=(_SocketAcceptor(listener), results))
        recv.start()
        send = context.Process(target=sender, args=(make, chunk, options, _SocketConnector(port), results))
        send.start()
        listener.close()
    got = collect(results, (send, recv), transport)
    send.join(), recv.join()
    return got


def collect(results, processes, what: str) -> dict:
    """The figures of both sides ("sender", "receiver") from `results`; a process that dies without putting its
    figures there ends the run (all are killed) instead of leaving it waiting."""
    got: dict = {}
    while len(got) < 2:
        try:
            side, figures = results.get(timeout=2)
            got[side] = figures
        except queue.Empty:
            dead = [process.name for process in processes if process.exitcode not in (None, 0)]
            if dead or not any(process.is_alive() for process in processes):
                for process in processes:
                    process.kill()
                raise SystemExit(f"{what}: a process failed ({', '.join(dead) or 'no result'})") from None
    return got


class _FdOpener:
    """Opens an inherited pipe end as a binary file in the (forked) child, closing the other end there so
    that the reader sees the end of the stream when the writer closes."""

    def __init__(self, fd: int, other: int, mode: str):
        self.fd, self.other, self.mode = fd, other, mode

    def __call__(self):
        os.close(self.other)
        return os.fdopen(self.fd, self.mode)


class _SocketAcceptor:
    def __init__(self, listener: socket.socket):
        self.listener = listener

    def __call__(self):
        connection, _ = self.listener.accept()
        return connection.makefile("rb")


class _SocketConnector:
    def __init__(self, port: int):
        self.port = port

    def __call__(self):
        return socket.create_connection(("127.0.0.1", self.port)).makefile("wb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G")
    parser.add_argument("--options", default="uncompressed,zstd:1")
    parser.add_argument("--chunk", default="64M", help="max_chunk_size of the sender's ps.write")
    args = parser.parse_args()
    size, chunk = parse_size(args.size), parse_size(args.chunk)
    rows, failed = [], False
    print(
        f"{'transport':<9} {'options':<13} {'seconds':>8} {'MB/s':>6} {'sender +MiB':>11} {'receiver x':>10}  "
        f"(message {size / 2**30:.2f} GiB, chunks <= {chunk >> 20} MiB)"
    )
    for transport in ("pipe", "socket"):
        for options in args.options.split(","):
            got = run(transport, functools.partial(build, size), chunk, None if options == "uncompressed" else options)
            send, recv = got["sender"], got["receiver"]
            assert recv["digest"] == send["digest"], "the received message differs"
            ratio = recv["peak_growth"] / send["message_bytes"]
            ok = send["peak_growth"] < chunk + (64 << 20) and ratio < 1.3
            failed |= not ok
            rows.append(
                {
                    "transport": transport,
                    "options": options,
                    "size": size,
                    "sender": send,
                    "receiver": recv,
                    "receiver_over_message": ratio,
                    "passed": ok,
                }
            )
            print(
                f"{transport:<9} {options:<13} {recv['seconds']:>8.1f} {size / recv['seconds'] / 1e6:>6.0f} "
                f"{send['peak_growth'] / 2**20:>11.0f} {ratio:>10.2f}  {'PASS' if ok else 'FAIL'}"
            )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "streaming.json").write_text(json.dumps(rows, indent=2))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
