"""Exception hierarchy: every error the library raises derives from ProtoSplitterError."""


class ProtoSplitterError(Exception):
    """Base class of every error raised by proto_splitter."""


class RiegeliError(ProtoSplitterError):
    """A Riegeli/records file is malformed, corrupted, truncated or uses an unsupported feature."""


class ChunkedProtoError(ProtoSplitterError):
    """Chunk metadata or chunk contents do not describe a valid message."""


class FieldPathError(ProtoSplitterError, ValueError):
    """A field path (e.g. ``node[3].attr['value']``) does not name a field of the message type."""


class SplitError(ProtoSplitterError):
    """A message cannot be split into chunks as requested."""


class WriterError(ProtoSplitterError):
    """A call to a ps.Writer does not fit the message type or the writer's state: a value of the wrong type, a
    second value for a singular field or map key, a write after close."""
