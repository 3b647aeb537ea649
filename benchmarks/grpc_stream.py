"""A GraphDef-like message over loopback gRPC between two processes (proto_splitter.grpc), side by side with the
loopback socket streaming of benchmarks/streaming.py: time, and the peak memory of each side.

Modes: "socket" (ps.write to a socket, ps.read from it), "upload" (stub.Upload(psgrpc.pieces(...)), the servicer
psgrpc.receive), "upload_to_path" (the servicer psgrpc.receive_to a file), "download" (the servicer yields
psgrpc.pieces, the client psgrpc.receive). Time runs from the first byte (piece) received to the message (file)
complete. Targets (issue 18): time <= 1.3x the socket's; the sender's peak RSS grows by at most 2x max_chunk_size +
64 MiB beyond the message it holds; the receiver's by at most 1.1x the message (whole) or 2x max_chunk_size +
64 MiB (to a path).

With --repeats N, the modes run N rounds, one after the other within each round; the time judged is the median
over the rounds of each transfer's time over the socket's of the same round, the memory judged the worst run's.

    python benchmarks/grpc_stream.py [--sizes 1G,3G] [--chunk 64M] [--options uncompressed] [--repeats 3]
        [--piece-size 1M]
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import multiprocessing
import os
import queue
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import psutil
import streaming
from measure import measure, parse_size

from proto_splitter.grpc.sender import PIECE_SIZE  # a constant: gRPC itself is imported in the children only

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # gRPC's info lines (a GOAWAY at shutdown) would litter the table
MODES = ["socket", "upload", "upload_to_path", "download"]
TIME_TARGET = 1.3
RECEIVER_WHOLE_TARGET = 1.1
SLACK = 64 << 20


def run(mode: str, make, chunk: int, options: str | None, work: Path, piece_size: int = PIECE_SIZE) -> dict:
    """One transfer of the message `make()` builds (in the sending process): the figures of both sides."""
    if mode == "socket":
        return streaming.run("socket", make, chunk, options)
    context = multiprocessing.get_context("fork")  # gRPC starts in the children only: the parent never imports it
    results, ports, stop = context.Queue(), context.Queue(), context.Event()
    serving = make if mode == "download" else None
    server = context.Process(
        target=serve, args=(mode, serving, chunk, options, piece_size, work, ports, results, stop), name="server"
    )
    server.start()
    try:
        port = ports.get(timeout=600)
    except queue.Empty:
        server.kill()
        raise SystemExit(f"{mode}: the server did not start") from None
    client = context.Process(target=call, args=(mode, make, chunk, options, piece_size, port, results), name="client")
    client.start()
    try:
        got = streaming.collect(results, (server, client), mode)
    finally:
        stop.set()
        client.join(60), server.join(60)
        client.kill(), server.kill()
    return got


def serve(mode: str, make, chunk: int, options: str | None, piece_size: int, work: Path, ports, results, stop) -> None:
    """The gRPC server process: receives an upload (whole or to a path), or sends its message on a download."""
    from concurrent import futures

    import grpc

    from proto_splitter import grpc as psgrpc
    from proto_splitter.testing import transfer_pb2, transfer_pb2_grpc
    from proto_splitter.testing.test_message3_pb2 import Graph

    message = make() if make is not None else None
    received: queue.Queue = queue.Queue()

    class Servicer(transfer_pb2_grpc.TransferServicer):
        def Upload(self, request_iterator, context):
            first = next(request_iterator)  # the clock starts at the first piece, not while the client builds
            pieces = itertools.chain([first], request_iterator)
            with measure() as taken:
                if mode == "upload_to_path":
                    got = psgrpc.receive_to(pieces, work / "received" / "model", Graph)
                else:
                    got = psgrpc.receive(pieces, Graph)
            received.put((got, taken))
            return transfer_pb2.Receipt()

        def Download(self, request, context):
            with measure() as taken:
                yield from psgrpc.pieces(message, max_chunk_size=chunk, options=options, piece_size=piece_size)
            results.put(("sender", sender_figures(message, taken)))

    (work / "received").mkdir(exist_ok=True)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    transfer_pb2_grpc.add_TransferServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    ports.put(port)
    if mode != "download":
        got, taken = received.get()
        if isinstance(got, str):  # a path: read back (unmeasured) to check it holds the message sent
            size = Path(got).stat().st_size
            got = _read_back(got)
        else:
            size = None
        results.put(("receiver", receiver_figures(got, taken, file_bytes=size)))
    stop.wait()
    server.stop(grace=None)


def _read_back(path: str):
    import proto_splitter as ps
    from proto_splitter.testing.test_message3_pb2 import Graph

    try:
        return ps.read(path, Graph)
    finally:
        Path(path).unlink()


def call(mode: str, make, chunk: int, options: str | None, piece_size: int, port: int, results) -> None:
    """The gRPC client process: uploads its message, or downloads the server's."""
    import grpc

    from proto_splitter import grpc as psgrpc
    from proto_splitter.testing import transfer_pb2, transfer_pb2_grpc
    from proto_splitter.testing.test_message3_pb2 import Graph

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=60)
    stub = transfer_pb2_grpc.TransferStub(channel)
    if mode == "download":
        responses = stub.Download(transfer_pb2.DownloadRequest())
        first = next(responses)
        with measure() as taken:
            got = psgrpc.receive(itertools.chain([first], responses), Graph)
        results.put(("receiver", receiver_figures(got, taken)))
    else:
        message = make()
        with measure() as taken:
            stub.Upload(psgrpc.pieces(message, max_chunk_size=chunk, options=options, piece_size=piece_size))
        results.put(("sender", sender_figures(message, taken)))
    channel.close()


def sender_figures(message, taken) -> dict:
    return {
        "seconds": taken.seconds,
        "peak_growth": taken.peak_growth,
        "message_bytes": message.ByteSize(),
        "digest": streaming.digest(message),
    }


def receiver_figures(message, taken, file_bytes: int | None = None) -> dict:
    return {
        "seconds": taken.seconds,
        "peak_growth": taken.peak_growth,
        "peak_rss": taken.peak_rss,
        "start_rss": taken.start_rss,
        "digest": streaming.digest(message),
        "nodes": len(message.node),
        "file_bytes": file_bytes,
    }


def judge(mode: str, got: dict, chunk: int, socket_seconds: float | None) -> dict:
    """The figures of one transfer against the targets."""
    send, recv = got["sender"], got["receiver"]
    if recv["digest"] != send["digest"]:
        raise SystemExit(f"{mode}: the message received differs from the message sent")
    to_path = mode == "upload_to_path"
    receiver_limit = 2 * chunk + SLACK if to_path else RECEIVER_WHOLE_TARGET * send["message_bytes"]
    checks = {
        "sender": send["peak_growth"] <= 2 * chunk + SLACK,
        "receiver": recv["peak_growth"] <= receiver_limit,
    }
    ratio = None
    if mode != "socket" and socket_seconds:
        ratio = recv["seconds"] / socket_seconds
        checks["time"] = ratio <= TIME_TARGET
    return {
        "mode": mode,
        "sender": send,
        "receiver": recv,
        "receiver_over_message": recv["peak_growth"] / send["message_bytes"],
        "time_over_socket": ratio,
        "checks": checks,
        "passed": all(checks.values()),
    }


def summarize(runs: list[dict]) -> dict:
    """One mode's runs (one per round): the median time and time over the socket's, the worst memory; judged on
    those."""
    ratios = [run["time_over_socket"] for run in runs if run["time_over_socket"] is not None]
    checks = {
        "sender": all(run["checks"]["sender"] for run in runs),
        "receiver": all(run["checks"]["receiver"] for run in runs),
    }
    ratio = statistics.median(ratios) if ratios else None
    if ratio is not None:
        checks["time"] = ratio <= TIME_TARGET
    return {
        "mode": runs[0]["mode"],
        "seconds": statistics.median(run["receiver"]["seconds"] for run in runs),
        "time_over_socket": ratio,
        "sender_peak_growth": max(run["sender"]["peak_growth"] for run in runs),
        "receiver_peak_growth": max(run["receiver"]["peak_growth"] for run in runs),
        "receiver_over_message": max(run["receiver_over_message"] for run in runs),
        "checks": checks,
        "passed": all(checks.values()),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1G,3G")
    parser.add_argument("--chunk", default="64M", help="max_chunk_size of the sender")
    parser.add_argument("--options", default="uncompressed", help="Riegeli options, comma-separated")
    parser.add_argument("--piece-size", default=str(PIECE_SIZE), help="data per gRPC piece (pieces' piece_size)")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated; socket first for the ratios")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of all the modes (medians of times)")
    parser.add_argument("--work", default=tempfile.gettempdir(), help="where upload_to_path writes")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "grpc_stream.json"))
    args = parser.parse_args(argv)
    chunk = parse_size(args.chunk)
    piece_size = parse_size(args.piece_size)
    modes = args.modes.split(",")
    work = Path(tempfile.mkdtemp(prefix="ps-grpc-stream-", dir=args.work))
    rows = []
    print(
        f"{'size':>5} {'mode':<15} {'options':<13} {'seconds':>8} {'x socket':>8} {'sender +MiB':>11} "
        f"{'receiver +MiB':>13} {'x message':>9}  (chunks <= {chunk >> 20} MiB; targets: x socket <= {TIME_TARGET}, "
        f"sender <= {(2 * chunk + SLACK) >> 20} MiB, receiver <= {RECEIVER_WHOLE_TARGET}x or "
        f"{(2 * chunk + SLACK) >> 20} MiB to a path)"
    )
    try:
        for label in args.sizes.split(","):
            size = parse_size(label)
            make = functools.partial(streaming.build, size)
            for options in args.options.split(","):
                runs: dict[str, list[dict]] = {mode: [] for mode in modes}
                for repeat in range(args.repeats):
                    socket_seconds = None
                    for mode in modes:
                        got = run(mode, make, chunk, None if options == "uncompressed" else options, work, piece_size)
                        judged = judge(mode, got, chunk, socket_seconds)
                        if mode == "socket":
                            socket_seconds = got["receiver"]["seconds"]
                        runs[mode].append(judged)
                        if args.repeats > 1:
                            print_row(label, f"{mode} #{repeat + 1}", options, summarize([judged]))
                for mode in modes:
                    row = dict(summarize(runs[mode]), size=size, size_label=label, options=options)
                    rows.append(row)
                    print_row(label, mode, options, row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    machine = {"cpus": psutil.cpu_count(), "memory_bytes": psutil.virtual_memory().total}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"machine": machine, "chunk": chunk, "piece_size": piece_size, "repeats": args.repeats, "rows": rows}
    out.write_text(json.dumps(summary, indent=2))
    return 0 if all(row["passed"] for row in rows) else 1


def print_row(label: str, mode: str, options: str, row: dict) -> None:
    ratio = row["time_over_socket"]
    print(
        f"{label:>5} {mode:<15} {options:<13} {row['seconds']:>8.1f} "
        f"{'-' if ratio is None else format(ratio, '.2f'):>8} "
        f"{row['sender_peak_growth'] / 2**20:>11.0f} {row['receiver_peak_growth'] / 2**20:>13.0f} "
        f"{row['receiver_over_message']:>9.2f}  {'PASS' if row['passed'] else 'FAIL'} "
        f"{' '.join(name for name, ok in row['checks'].items() if not ok)}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
