"""`pstf.open_graph`: the constants and nodes of a GraphDef file (or of a SavedModel's graph) read lazily, each
from only its own bytes, on a `ps.open` handle.

    with pstf.open_graph("frozen.cpb") as g:
        g.tensor_names()                 # Const nodes: the graph's, then the functions' as "function::node"
        w = g.tensor("dense/kernel")     # numpy; reads that constant's node and its chunk only
        g.tensor("dense/kernel", out=w)  # straight into the caller's array
        for name, array in g.tensors(): ...
        g.node("dense/kernel")           # NodeDef

Nodes are found by name with the file's index (its key table of the node list); a constant's value, cut into a
chunk of its own by the splitter, is read straight into the array it becomes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from .. import field_paths, handle, wire
from ..chunks import BYTES
from ..errors import ProtoSplitterError
from ..field_paths import FieldPath, Index
from ..records_ahead import RecordsAhead
from ..tf import types_pb2
from . import graphs
from .tensors import TensorDecodeError, numpy_dtype, shape_of, to_numpy

_DTYPE_NUMBERS = frozenset(types_pb2.DataType.values())


class TensorDetails(NamedTuple):
    """What `GraphFile.tensor_details` says of a constant: its name, dtype (a DataType name such as DT_FLOAT), shape
    (-1 for an unknown dimension) and size in bytes (its TensorProto's serialized size; the tag and length of a
    value cut into chunks of its own not counted)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    bytes: int


READ_AHEAD = 2  # threads reading constants ahead in tensors()
AHEAD_BYTES = 64 << 20  # what they read ahead at most (more than READ_AHEAD + 1 values)
FUNCTION_SEPARATOR = "::"  # "function::node" names a node of a function (TensorFlow's node names hold no ':')
_OP_FIELD = 2  # NodeDef.op
_CONTENT = "attr['value'].tensor.tensor_content"  # where a NodeDef holds its constant's bytes
_CONST = "Const"


def open_graph(path: graphs.PathLike, graph_class: type | None = None) -> GraphFile:
    """Opens a GraphDef file (`.pb`/`.cpb`, or a prefix) or a SavedModel directory (its first MetaGraph's graph)
    for lazy reads of its constants and nodes; `graph_class` chooses the GraphDef class (default: TensorFlow's
    when it is installed, else the shipped copy)."""
    return GraphFile(path, graph_class)


class GraphFile:
    """An opened graph: see the module docstring. Safe to use from several threads; close it (or use `with`)."""

    def __init__(
        self, path: graphs.PathLike, graph_class: type | None = None, opened: handle.ChunkedFile[Any] | None = None
    ):
        """`opened`: a handle on the file at `path` already open (of a GraphDef or a SavedModel), which the graph
        reads through (and closes when it is closed)."""
        if opened is None:
            source, message_class, inner = graphs._source(path, graph_class)
            opened = handle.open(source, message_class)
        else:
            inner = graphs._GRAPH_IN_SAVED_MODEL if graphs.graph_kind(opened.message_class) == "SavedModel" else ""
        self._name = os.fspath(path)
        self._file = opened
        self._graph = f"{inner}." if inner else ""
        self._lock = threading.Lock()
        self._functions: dict[str, int] | None = None
        node = field_paths.resolve(opened.descriptor, self._steps("node"))[-1].target
        assert node is not None  # a graph's node field is a list of NodeDef messages
        self._content_steps = field_paths.parse(_CONTENT, node)  # below a NodeDef, where its constant's bytes are

    def close(self) -> None:
        """Closes the file."""
        self._file.close()

    def __enter__(self) -> GraphFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- nodes ---------------------------------------------------------------------------------------------------

    def node(self, name: str) -> Any:
        """The NodeDef named `name` (a function's node as "function::node"), with its constant's value."""
        return self._file.get(self._locate(name))

    def _locate(self, name: str) -> str:
        """The path of the node named `name` (NodeNotFoundError when there is none)."""
        if FUNCTION_SEPARATOR in name:
            function_name, node_name = name.split(FUNCTION_SEPARATOR, 1)
            function = self._function_indices().get(function_name)
            if function is not None:
                nodes = f"{self._graph}library.function[{function}].node_def"
                index = self._file.find(nodes, node_name)
                if index is not None:
                    return f"{nodes}[{index}]"
        else:
            index = self._file.find(f"{self._graph}node", name)
            if index is not None:
                return f"{self._graph}node[{index}]"
        raise graphs.NodeNotFoundError(f"no node named {name!r} in {self._name!r}")

    def _function_indices(self) -> dict[str, int]:
        """Function name -> index in the library (read once: the functions' structure, not their constants)."""
        with self._lock:
            if self._functions is None:
                functions = self._file.resolver.elements(self._steps("library.function"), skip_bytes=True)
                self._functions = {}
                for index, function in functions:
                    self._functions.setdefault(function.signature.name, index)
            return self._functions

    def _steps(self, text: str) -> FieldPath:
        return self._file.field_path(self._graph + text)

    def _content(self, node_path: FieldPath) -> FieldPath:
        """The path of the tensor_content of the constant node at `node_path`."""
        return node_path + self._content_steps

    # ---- constants -------------------------------------------------------------------------------------------

    def tensor_names(self) -> list[str]:
        """The names of the Const nodes: the graph's in order, then each function's as "function::node"."""
        return [name for name, _, _ in self._constants()]

    def tensor(self, name: str, out: np.ndarray | None = None) -> np.ndarray:
        """The value of the constant `name` as a numpy array, reading only its node and its value's bytes; with
        `out` (a writable C-contiguous array of its dtype and size), read into `out` with no intermediate copy."""
        path = self._file.field_path(self._locate(name))
        return self._value(path, self._file.resolver.value(path, skip_bytes=True)[1], out)

    def tensors(self) -> Iterator[tuple[str, np.ndarray]]:
        """(name, array) of every constant, in the order of `tensor_names` (the order of their chunks in the
        file): each chunk is read once. The values' chunks are read in file order by READ_AHEAD threads (reading
        and hashing release the GIL) from the start, while the nodes are being found: up to AHEAD_BYTES ahead."""
        with ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="proto-splitter-tensors") as pool:
            records = self._file.resolver.records
            ahead = RecordsAhead(records, self._value_chunks(), pool, READ_AHEAD + 1, AHEAD_BYTES)
            try:
                for name, path, node in self._iter_constants():
                    yield name, self._value(path, node, None, ahead)
            finally:
                ahead.close()

    def _value_chunks(self) -> list[int]:
        """The chunks that hold values of their own (BYTES chunks: the constants' contents), in file order."""
        infos = self._file.resolver.records.infos
        values = [chunk for chunk, info in enumerate(infos) if info.type == BYTES]
        return sorted(values, key=lambda chunk: int(infos[chunk].offset))

    def tensor_details(self) -> list[TensorDetails]:
        """Name, dtype, shape and size of every constant, in the order of `tensor_names`, from their nodes and the
        sizes of their values' chunks: no value is read."""
        details = []
        records = self._file.resolver.records
        for name, path, node in self._constants():
            tensor = node.attr["value"].tensor
            chunks = self._file.resolver.leaf_chunks(self._content(path))
            size = tensor.ByteSize() + sum(records.size(chunk) for chunk in chunks)
            dtype = types_pb2.DataType.Name(tensor.dtype) if tensor.dtype in _DTYPE_NUMBERS else str(tensor.dtype)
            shape = tuple(dim.size for dim in tensor.tensor_shape.dim)
            details.append(TensorDetails(name, dtype, shape, size))
        return details

    def _constants(self) -> list[tuple[str, FieldPath, Any]]:
        """(name, path, node without its value's chunks) of every Const node: the graph's (found at wire level by
        their op), then the functions'."""
        return list(self._iter_constants())

    def _iter_constants(self) -> Iterator[tuple[str, FieldPath, Any]]:
        """`_constants` one by one, as they are found."""
        const = (_OP_FIELD, wire.key_hash(_CONST.encode()))
        nodes = self._steps("node")
        for index, node in self._file.resolver.elements(nodes, skip_bytes=True, where=const):
            if node.op == _CONST:
                yield node.name, FieldPath((*nodes, Index(index))), node
        if self._function_count():
            functions = self._file.resolver.elements(self._steps("library.function"), skip_bytes=True)
            for position, function in functions:
                for index, node in enumerate(function.node_def):
                    if node.op == _CONST:
                        yield (
                            f"{function.signature.name}{FUNCTION_SEPARATOR}{node.name}",
                            self._steps(f"library.function[{position}].node_def[{index}]"),
                            node,
                        )

    def _function_count(self) -> int:
        return self._file.count(self._graph + "library.function")

    def _value(
        self, path: FieldPath, node: Any, out: np.ndarray | None, ahead: RecordsAhead | None = None
    ) -> np.ndarray:
        """The array of a constant's node (read without its value's chunks) at `path`: from its value's chunks
        straight into the array (or, without `out`, from what `ahead` read of them), or from the node (values kept
        inline)."""
        if "value" not in node.attr or not node.attr["value"].HasField("tensor"):
            raise ProtoSplitterError(f"node {node.name!r} ({node.op}) holds no tensor value")
        tensor = node.attr["value"].tensor
        chunks = self._file.resolver.leaf_chunks(self._content(path))
        if not chunks:
            array = to_numpy(tensor)
            if out is None:
                return array
            np.copyto(_checked_out(out, array.dtype, array.size), array.reshape(out.shape), casting="no")
            return out
        dtype, _ = numpy_dtype(tensor.dtype)
        shape = shape_of(tensor)
        count = int(np.prod(shape, dtype=np.int64))
        records = self._file.resolver.records
        sizes = [records.size(chunk) for chunk in chunks]
        if sum(sizes) != count * dtype.itemsize:
            raise TensorDecodeError(
                f"tensor_content has {sum(sizes)} bytes; shape {shape} of {dtype} needs {count * dtype.itemsize}"
            )
        if out is None and ahead is not None:
            taken = [part for part in (ahead.take(chunk) for chunk in chunks) if part is not None]
            if len(taken) == len(chunks):
                return _array_of(taken, dtype, shape)
        array = np.empty(shape, dtype=dtype) if out is None else _checked_out(out, dtype, count)
        view = array.data.cast("B") if array.size else memoryview(bytearray())
        position = 0
        for chunk, size in zip(chunks, sizes, strict=True):
            records.read(chunk, 0, size, into=view[position : position + size])
            position += size
        return array if out is None else out


def _array_of(parts: list[memoryview], dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """The array of a value read in parts (one part: its own memory when it is writable, else a copy)."""
    if len(parts) == 1 and not parts[0].readonly:
        return np.frombuffer(parts[0], dtype=dtype).reshape(shape)
    array = np.empty(shape, dtype=dtype)
    view = array.data.cast("B") if array.size else memoryview(bytearray())
    position = 0
    for part in parts:
        view[position : position + len(part)] = part
        position += len(part)
    return array


def _checked_out(out: np.ndarray, dtype: np.dtype, count: int) -> np.ndarray:
    """`out` when it can take the tensor's values: a writable C-contiguous array of its dtype and size."""
    if not isinstance(out, np.ndarray) or not out.flags.c_contiguous or not out.flags.writeable:
        raise ProtoSplitterError("out must be a writable C-contiguous numpy array")
    if out.dtype != dtype or out.size != count:
        raise ProtoSplitterError(f"out is {out.size} x {out.dtype}; the tensor is {count} x {dtype}")
    return out


def read_tensor(path: graphs.PathLike, node_name: str) -> np.ndarray:
    """The value of the constant `node_name` as a numpy array, reading only its node and its value's bytes (see
    `open_graph`, which keeps the file open for more)."""
    with open_graph(path) as graph:
        return graph.tensor(node_name)
