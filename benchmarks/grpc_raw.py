"""The transport alone, without proto-splitter: the `.cpb` bytes of the grpc_stream.py message moved between two
processes over a loopback socket, and over loopback gRPC as proto_splitter.grpc.v1.Piece messages made and read
with the generated stubs only (piece_pb2, transfer_pb2_grpc). No splitting, no merging: the receiver only touches
each piece's data. It shows what grpcio itself costs beside a socket on this machine (issue 18's time target).

Time runs from the first byte (piece) received to the last; the receiving process's CPU time and minor page
faults are counted over the same span.

    python benchmarks/grpc_raw.py [--sizes 1G,3G] [--piece-size 1M] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import resource
import socket
import statistics
import sys
import time
from pathlib import Path

import streaming
from measure import parse_size

import proto_splitter as ps
from proto_splitter.grpc.sender import PIECE_SIZE

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


class _Clock:
    """Wall time, CPU time and minor page faults of this process from start() to stop()."""

    def start(self) -> None:
        self._wall, self._usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)

    def stop(self) -> dict:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "seconds": time.perf_counter() - self._wall,
            "user": usage.ru_utime - self._usage.ru_utime,
            "system": usage.ru_stime - self._usage.ru_stime,
            "minor_faults": usage.ru_minflt - self._usage.ru_minflt,
        }


def socket_receive(listener: socket.socket, results) -> None:
    connection, _ = listener.accept()
    buffer = memoryview(bytearray(1 << 20))
    clock, total = _Clock(), connection.recv_into(buffer, 1)
    clock.start()
    while count := connection.recv_into(buffer):
        total += count
    results.put(dict(clock.stop(), bytes=total))


def socket_send(data: bytes, piece_size: int, port: int) -> None:
    view = memoryview(data)
    with socket.create_connection(("127.0.0.1", port)) as connection:
        for begin in range(0, len(view), piece_size):
            connection.sendall(view[begin : begin + piece_size])


def grpc_receive(results, ports) -> None:
    from concurrent import futures

    import grpc

    from proto_splitter.testing import transfer_pb2, transfer_pb2_grpc

    class Servicer(transfer_pb2_grpc.TransferServicer):
        def Upload(self, request_iterator, context):
            clock, total = _Clock(), len(next(request_iterator).data)
            clock.start()
            for piece in request_iterator:
                total += len(piece.data)
            results.put(dict(clock.stop(), bytes=total))
            return transfer_pb2.Receipt()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    transfer_pb2_grpc.add_TransferServicer_to_server(Servicer(), server)
    ports.put(server.add_insecure_port("127.0.0.1:0"))
    server.start()
    server.wait_for_termination()


def grpc_send(data: bytes, piece_size: int, port: int) -> None:
    import grpc

    from proto_splitter.grpc import piece_pb2
    from proto_splitter.testing import transfer_pb2_grpc

    def pieces():
        for begin in range(0, len(data), piece_size):
            yield piece_pb2.Piece(offset=begin, data=data[begin : begin + piece_size])

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        transfer_pb2_grpc.TransferStub(channel).Upload(pieces())


def run(transport: str, data: bytes, piece_size: int) -> dict:
    """One transfer of `data` (inherited by the forked sender): the receiver's figures."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    if transport == "socket":
        listener = socket.create_server(("127.0.0.1", 0))
        receiver = context.Process(target=socket_receive, args=(listener, results))
        receiver.start()
        port = listener.getsockname()[1]
    else:
        ports = context.Queue()
        receiver = context.Process(target=grpc_receive, args=(results, ports))
        receiver.start()
        port = ports.get(timeout=120)
    send = socket_send if transport == "socket" else grpc_send
    sender = context.Process(target=send, args=(data, piece_size, port))
    sender.start()
    try:
        got = results.get(timeout=600)
    except queue.Empty:
        raise SystemExit(f"{transport}: no result") from None
    finally:
        sender.join(60)
        receiver.kill(), sender.kill()
        receiver.join()
    if got["bytes"] != len(data):
        raise SystemExit(f"{transport}: received {got['bytes']} bytes of {len(data)}")
    return got


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1G")
    parser.add_argument("--chunk", default="64M", help="max_chunk_size of the .cpb sent")
    parser.add_argument("--piece-size", default=str(PIECE_SIZE))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "grpc_raw.json"))
    args = parser.parse_args(argv)
    piece_size = parse_size(args.piece_size)
    rows = []
    print(f"{'size':>5} {'transport':<8} {'seconds':>8} {'x socket':>8} {'user':>6} {'system':>6} {'faults':>8}")
    for label in args.sizes.split(","):
        data, _ = ps.write_to_bytes(streaming.build(parse_size(label)), max_chunk_size=parse_size(args.chunk))
        runs: dict[str, list[dict]] = {"socket": [], "grpc": []}
        for _ in range(args.repeats):
            for transport, kept in runs.items():
                kept.append(run(transport, data, piece_size))
            runs["grpc"][-1]["over_socket"] = runs["grpc"][-1]["seconds"] / runs["socket"][-1]["seconds"]
        for transport, kept in runs.items():
            row = {
                "size_label": label,
                "bytes": len(data),
                "transport": transport,
                "seconds": statistics.median(run["seconds"] for run in kept),
                "over_socket": statistics.median(run["over_socket"] for run in kept) if transport == "grpc" else None,
                "runs": kept,
            }
            rows.append(row)
            ratio = "-" if row["over_socket"] is None else format(row["over_socket"], ".2f")
            medians = {key: statistics.median(run[key] for run in kept) for key in ("user", "system", "minor_faults")}
            print(
                f"{label:>5} {transport:<8} {row['seconds']:>8.2f} {ratio:>8} {medians['user']:>6.2f} "
                f"{medians['system']:>6.2f} {medians['minor_faults']:>8.0f}",
                flush=True,
            )
        del data
    out = Path(args.out)
    out.write_text(json.dumps({"piece_size": piece_size, "repeats": args.repeats, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
