"""proto-splitter: save, send and read protobuf messages of any size as chunked Riegeli (.cpb) files,
interchangeable with TensorFlow's proto splitter.

    import proto_splitter as ps
    path = ps.write(message, "out/model")            # out/model.pb, or out/model.cpb when > 2 GiB
    with ps.Writer("out/model", MessageClass) as w:  # piece by piece: w.set / append / extend / put
        w.append("node", node)
    message = ps.read("out/model", MessageClass)
    part = ps.read_partial("out/model", MessageClass, fields=["node[3]"])
"""

from .composable import ComposableSplitter
from .errors import (
    ChunkedProtoError,
    FieldPathError,
    ProtoSplitterError,
    RiegeliError,
    SplitError,
    TransferError,
    WriteError,
    WriterError,
)
from .files import (
    ChunkedFileNotFoundError,
    iter_chunks,
    project,
    read,
    read_from_bytes,
    read_metadata,
    write,
    write_to_bytes,
)
from .handle import ChunkedFile, open, read_partial
from .index import IndexMismatchError
from .merger import Merger, merge
from .registry import split
from .resolver import ElementNotFoundError
from .tensorflow import node_keys as _node_keys  # noqa: F401 (indexes find nodes by name)
from .tensorflow import saved_model_splitter as _saved_model_splitter  # noqa: F401 (registers its layout)
from .writer import Writer

__all__ = [
    "ChunkedFile",
    "ChunkedFileNotFoundError",
    "ChunkedProtoError",
    "ComposableSplitter",
    "ElementNotFoundError",
    "FieldPathError",
    "IndexMismatchError",
    "Merger",
    "ProtoSplitterError",
    "RiegeliError",
    "SplitError",
    "TransferError",
    "WriteError",
    "Writer",
    "WriterError",
    "iter_chunks",
    "merge",
    "open",
    "project",
    "read",
    "read_from_bytes",
    "read_metadata",
    "read_partial",
    "split",
    "write",
    "write_to_bytes",
]
__version__ = "0.1.0"
