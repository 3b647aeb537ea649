"""Reading GraphDefs (frozen graphs, or the graph inside a SavedModel directory) and single constants from
`.pb`/`.cpb` files, with TensorFlow's classes when it is installed and the shipped copies otherwise."""

from __future__ import annotations

import os

import numpy as np
from google.protobuf.descriptor import Descriptor

from .. import extensions, field_paths, files, handle
from ..errors import ProtoSplitterError
from ..proto import chunk_pb2
from .tensors import to_numpy

PathLike = str | os.PathLike
SAVED_MODEL_PREFIX = "saved_model"
_GRAPH_IN_SAVED_MODEL = "meta_graphs[0].graph_def"
_NODE_ATTR_FIELD = 5  # NodeDef.attr: where constants keep their tensors


class NodeNotFoundError(ProtoSplitterError, KeyError):
    """No node of that name in the graph."""


def _classes():
    """(GraphDef, SavedModel) classes: TensorFlow's own when it is installed, else the shipped copies."""
    try:
        from tensorflow.core.framework import graph_pb2
        from tensorflow.core.protobuf import saved_model_pb2
    except ImportError:
        from ..tf import graph_pb2, saved_model_pb2
    return graph_pb2.GraphDef, saved_model_pb2.SavedModel


def _source(path: PathLike, graph_class: type | None) -> tuple[str, type, str]:
    """(file or prefix to read, message class, path of the GraphDef inside it) for a graph file or a
    SavedModel directory."""
    graph_def, saved_model = _classes()
    if graph_class is not None:
        graph_def = graph_class
    if os.path.isdir(path):
        return os.path.join(path, SAVED_MODEL_PREFIX), saved_model, _GRAPH_IN_SAVED_MODEL
    return os.fspath(path), graph_def, ""


def _graph_in(message, inner: str):
    return message.meta_graphs[0].graph_def if inner else message


def read_graph_def(path: PathLike, graph_class: type | None = None):
    """The GraphDef in a `.pb`/`.cpb` file (a prefix works too) or in a SavedModel directory (its first
    MetaGraph), as TensorFlow's GraphDef class when TensorFlow is installed (pass `graph_class` to choose)."""
    source, message_class, inner = _source(path, graph_class)
    if not inner:
        return files.read(source, message_class)
    saved_model = handle.read_partial(source, message_class, [_GRAPH_IN_SAVED_MODEL])
    if not saved_model.meta_graphs:
        raise ProtoSplitterError(f"the SavedModel in {os.fspath(path)!r} has no MetaGraph")
    return saved_model.meta_graphs[0].graph_def


def read_tensor(path: PathLike, node_name: str) -> np.ndarray:
    """The value of the constant `node_name` as a numpy array, reading only the chunks it needs: first the
    graph without the constants' values (to find the node), then that node's tensor."""
    source, message_class, inner = _source(path, None)
    prefix = f"{inner}." if inner else ""
    try:
        metadata = files.read_metadata(source)
    except files.ChunkedProtoError:  # a plain .pb: parse it whole
        graph = _graph_in(files.read(source, message_class), inner)
        return _tensor_of(graph.node[_node_index(graph, node_name, path)], node_name)
    skeleton = handle.read_partial(source, message_class, without_constant_values(metadata, message_class))
    index = _node_index(_graph_in(skeleton, inner), node_name, path)
    part = handle.read_partial(source, message_class, [f"{prefix}node[{index}].attr['value'].tensor"])
    return _tensor_of(_graph_in(part, inner).node[index], node_name)


def _node_index(graph, node_name: str, path: PathLike) -> int:
    for index, node in enumerate(graph.node):
        if node.name == node_name:
            return index
    raise NodeNotFoundError(f"no node named {node_name!r} in {os.fspath(path)!r}")


def _tensor_of(node, node_name: str) -> np.ndarray:
    if "value" not in node.attr or not node.attr["value"].HasField("tensor"):
        raise ProtoSplitterError(f"node {node_name!r} ({node.op}) holds no tensor value")
    return to_numpy(node.attr["value"].tensor)


def without_constant_values(metadata: chunk_pb2.ChunkMetadata, message_class: type) -> chunk_pb2.ChunkMetadata:
    """A copy of the metadata whose tree leaves out every chunk inside a node's `attr` (the constants'
    values), for reading a graph's structure lazily (TensorFlow's ReadPartial form)."""
    pruned = chunk_pb2.ChunkMetadata()
    pruned.CopyFrom(metadata)
    _prune(pruned.message, message_class.DESCRIPTOR)
    return pruned


def _prune(chunked_message: chunk_pb2.ChunkedMessage, descriptor: Descriptor) -> None:
    kept = []
    for chunked_field in chunked_message.chunked_fields:
        if not extensions.is_guard_field(chunked_field):
            path = field_paths.from_field_tags(chunked_field.field_tag, descriptor)
            segments = field_paths.resolve(descriptor, path)
            if _reaches_node_attr(descriptor, segments):
                continue
            target = segments[-1].target if segments else descriptor
            if target is not None:
                _prune(chunked_field.message, target)
        kept.append(chunked_field)
    del chunked_message.chunked_fields[:]
    chunked_message.chunked_fields.extend(kept)


def _reaches_node_attr(descriptor: Descriptor, segments: list[field_paths.Segment]) -> bool:
    """Whether a path (relative to a message of type `descriptor`) goes into some NodeDef's attr."""
    holder: Descriptor | None = descriptor
    for segment in segments:
        if holder is not None and holder.name == "NodeDef" and segment.field.number == _NODE_ATTR_FIELD:
            return True
        holder = segment.target
    return False
