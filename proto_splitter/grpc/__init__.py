"""Messages of any size over gRPC: a message goes as a stream of small pieces (`proto_splitter.grpc.v1.Piece`,
protos/proto_splitter/grpc/piece.proto) whose data are the bytes of its `.cpb` (or `.pb`), split on the sending
side while they are sent, and merged (or written to a file) on the receiving side. Needs no gRPC import itself
(`pip install 'proto-splitter[grpc]'` for grpcio); works with any iterator of pieces.

    from proto_splitter import grpc as psgrpc
    response = stub.Upload(psgrpc.pieces(message, max_chunk_size=64 << 20, options="zstd:1"))  # client
    message = psgrpc.receive(request_iterator, GraphDef)  # in the servicer
    path = psgrpc.receive_to(request_iterator, "incoming/model")  # incoming/model.cpb, bounded memory
"""

from .piece_pb2 import FORMAT_CHUNKED, FORMAT_PLAIN, Header, Piece
from .receiver import PieceReader, receive, receive_to
from .sender import DEFAULT_MAX_CHUNK_SIZE, PIECE_SIZE, pieces, type_name

__all__ = [
    "DEFAULT_MAX_CHUNK_SIZE",
    "FORMAT_CHUNKED",
    "FORMAT_PLAIN",
    "PIECE_SIZE",
    "Header",
    "Piece",
    "PieceReader",
    "pieces",
    "receive",
    "receive_to",
    "type_name",
]
