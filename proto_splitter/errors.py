"""Exception hierarchy: every error the library raises derives from ProtoSplitterError."""


class ProtoSplitterError(Exception):
    """Base class of every error raised by proto_splitter."""


class RiegeliError(ProtoSplitterError):
    """A Riegeli/records file is malformed, corrupted, truncated or uses an unsupported feature."""


class ChunkedProtoError(ProtoSplitterError):
    """Chunk metadata or chunk contents do not describe a valid message."""


class FieldPathError(ProtoSplitterError, ValueError):
    """A field path (e.g. ``node[3].attr['value']``) does not name a field of the message type."""


class WriteError(ProtoSplitterError, OSError):
    """An output (a local file or a remote object) could not be written or completed; nothing appears under its
    final name."""


class SplitError(ProtoSplitterError):
    """A message cannot be split into chunks as requested."""


class TransferError(ProtoSplitterError):
    """A message sent as pieces (proto_splitter.grpc) did not arrive whole: the stream was cancelled or cut short,
    a piece is damaged or out of place, or the pieces carry another message type."""


class WriterError(ProtoSplitterError):
    """A call to a ps.Writer does not fit the message type or the writer's state: a value of the wrong type, a
    second value for a singular field or map key, a write after close."""
