"""The other side of a transfer written only from the README's piece format and code protoc generates: no
proto_splitter code runs here. Serves the test service (protos/proto_splitter/testing/transfer.proto):

- Upload: checks each piece as the README says, writes the data to OUT/upload.cpb or OUT/upload.pb (by the
  header's format), replies Receipt(size=<bytes>, note="<message_type> <format name>"); refuses a bad stream
  with INVALID_ARGUMENT.
- Download: sends the file OUT/<request.name> in pieces of 100,000 bytes, then an empty last piece, announcing the
  type given on the command line.

    python stub_only_peer.py PROTOS_DIR OUT_DIR MESSAGE_TYPE     (prints "port N", serves until stdin closes)
"""

from __future__ import annotations

import sys
import tempfile
import zlib
from concurrent import futures
from pathlib import Path

import grpc
from grpc_tools import protoc

SIGNATURE = bytes.fromhex("83af70d10d884a3f0000000000000000")
PIECE_DATA = 100_000


def generate(protos: Path, out: Path) -> None:
    """Python code for the piece message and the test service, from their .proto files only."""
    status = protoc.main(
        [
            "protoc",
            f"-I{protos}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            "proto_splitter/grpc/piece.proto",
            "proto_splitter/testing/transfer.proto",
        ]
    )
    if status != 0:
        raise SystemExit(f"protoc failed: {status}")


def main() -> None:
    protos, out_dir, message_type = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    generated = Path(tempfile.mkdtemp(prefix="stub-only-"))
    generate(protos, generated)
    sys.path.insert(0, str(generated))
    import proto_splitter  # the folder protoc generated into: no __init__, none of the library

    assert [Path(entry) for entry in proto_splitter.__path__] == [generated / "proto_splitter"], proto_splitter.__path__
    from proto_splitter.grpc import piece_pb2
    from proto_splitter.testing import transfer_pb2, transfer_pb2_grpc

    class Peer(transfer_pb2_grpc.TransferServicer):
        def Upload(self, request_iterator, context):
            received, header, done = 0, None, False
            with open(out_dir / "upload.part", "wb") as out:
                for piece in request_iterator:
                    if header is None:
                        if not piece.HasField("header"):
                            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "first piece without a header")
                        header = piece.header
                    elif piece.HasField("header"):
                        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a header after the first piece")
                    if piece.offset != received:
                        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"offset {piece.offset}, expected {received}")
                    if piece.HasField("crc32") and zlib.crc32(piece.data) != piece.crc32:
                        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"crc32 mismatch at byte {received}")
                    out.write(piece.data)
                    received += len(piece.data)
                    if piece.last:
                        done = True
                        break
            if not done:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the stream ended before its last piece")
            extension = {piece_pb2.FORMAT_CHUNKED: ".cpb", piece_pb2.FORMAT_PLAIN: ".pb"}[header.format]
            (out_dir / "upload.part").rename(out_dir / ("upload" + extension))
            note = f"{header.message_type} {piece_pb2.Format.Name(header.format)}"
            return transfer_pb2.Receipt(size=received, note=note)

        def Download(self, request, context):
            data = (out_dir / request.name).read_bytes()
            chunked = data.startswith(SIGNATURE)
            header = piece_pb2.Header(
                message_type=message_type,
                format=piece_pb2.FORMAT_CHUNKED if chunked else piece_pb2.FORMAT_PLAIN,
            )
            for offset in range(0, len(data), PIECE_DATA):
                part = data[offset : offset + PIECE_DATA]
                piece = piece_pb2.Piece(offset=offset, data=part, crc32=zlib.crc32(part))
                if offset == 0:
                    piece.header.CopyFrom(header)
                yield piece
            last = piece_pb2.Piece(offset=len(data), crc32=zlib.crc32(b""), last=True)
            if not data:
                last.header.CopyFrom(header)
            yield last

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    transfer_pb2_grpc.add_TransferServicer_to_server(Peer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"port {port}", flush=True)
    sys.stdin.read()
    server.stop(grace=None)


if __name__ == "__main__":
    main()
