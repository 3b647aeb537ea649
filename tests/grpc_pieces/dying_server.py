"""A gRPC server (in a child process) that tests kill mid-stream: Download sends a 16 MB graph slowly enough to be
killed in the middle; Upload kills its own process after receiving 20 pieces. Prints "port N" once serving.

    python tests/grpc_pieces/dying_server.py
"""

from __future__ import annotations

import os
import signal
import sys
from concurrent import futures

import grpc

from proto_splitter import grpc as psgrpc
from proto_splitter.testing import transfer_pb2_grpc
from proto_splitter.testing.graphs import graph_def_like


class Dying(transfer_pb2_grpc.TransferServicer):
    def __init__(self) -> None:
        self.graph = graph_def_like(16, constant_size=1 << 20, seed=os.urandom(1 << 20))

    def Download(self, request, context):
        yield from psgrpc.pieces(self.graph, max_chunk_size=64 << 10, piece_size=4096)

    def Upload(self, request_iterator, context):
        for index, _ in enumerate(request_iterator):
            if index == 20:
                os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    transfer_pb2_grpc.add_TransferServicer_to_server(Dying(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"port {port}", flush=True)
    sys.stdin.read()  # serves until the test closes stdin (or kills the process)
    server.stop(grace=None)


if __name__ == "__main__":
    main()
