"""Reading GraphDefs (frozen graphs, or the graph inside a SavedModel directory) from `.pb`/`.cpb` files, with
TensorFlow's classes when it is installed and the shipped copies otherwise (single constants: graph_file.py)."""

from __future__ import annotations

import os
from typing import Any

from google.protobuf.message import Message

from .. import files, handle
from ..errors import ProtoSplitterError

PathLike = str | os.PathLike[str]
SAVED_MODEL_PREFIX = "saved_model"
_GRAPH_IN_SAVED_MODEL = "meta_graphs[0].graph_def"


class NodeNotFoundError(ProtoSplitterError, KeyError):
    """No node of that name in the graph."""


def _classes() -> tuple[type[Message], type[Message]]:
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
    if os.path.isdir(path):
        return os.path.join(path, SAVED_MODEL_PREFIX), _classes()[1], _GRAPH_IN_SAVED_MODEL
    return os.fspath(path), graph_class if graph_class is not None else _classes()[0], ""


def graph_kind(message_class: type) -> str | None:
    """ "GraphDef" or "SavedModel" for TensorFlow's class of that name or the shipped copy; None for another."""
    package, _, name = message_class.DESCRIPTOR.full_name.rpartition(".")  # type: ignore[attr-defined]
    return name if package in ("tensorflow", "proto_splitter.tf") and name in ("GraphDef", "SavedModel") else None


def read_graph_def(path: PathLike, graph_class: type | None = None) -> Any:
    """The GraphDef in a `.pb`/`.cpb` file (a prefix works too) or in a SavedModel directory (its first
    MetaGraph), as TensorFlow's GraphDef class when TensorFlow is installed (pass `graph_class` to choose)."""
    source, message_class, inner = _source(path, graph_class)
    if not inner:
        return files.read(source, message_class)
    saved_model: Any = handle.read_partial(source, message_class, [_GRAPH_IN_SAVED_MODEL])
    if not saved_model.meta_graphs:
        raise ProtoSplitterError(f"the SavedModel in {os.fspath(path)!r} has no MetaGraph")
    return saved_model.meta_graphs[0].graph_def
