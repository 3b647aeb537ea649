"""TensorFlow's chunk layout for SavedModel (tensorflow/tools/proto_splitter/cc/saved_model_splitter.cc): the
first MetaGraph's GraphDef is split on its own and attached at exactly `meta_graphs[0].graph_def`, the rest of
the SavedModel forms the root. TensorFlow's fingerprinting (fingerprinting_utils.cc) finds the graph, the
signatures and the object graph by those field paths and fails on a chunk attached at `meta_graphs[0]`, which
the generic splitter would make when the MetaGraph's remainder is large.

GraphDef needs no splitter of its own: the generic one already makes TensorFlow's choices (see the package
docstring). Registered by full name for TensorFlow's class and for the shipped copy; no TensorFlow import."""

from __future__ import annotations

from google.protobuf.message import Message

from .. import descriptors, extensions, registry
from ..chunks import ChunkSink
from ..proto import chunk_pb2
from ..splitter import GenericSplitter

SAVED_MODEL_NAMES = ("tensorflow.SavedModel", "proto_splitter.tf.SavedModel")
_META_GRAPHS, _GRAPH_DEF = 2, 2  # SavedModel.meta_graphs, MetaGraphDef.graph_def


class SavedModelSplitter:
    """Splits a SavedModel the way TensorFlow's C++ SavedModelSplitter does (see the module docstring)."""

    def __init__(self, max_chunk_size: int, *, cut_values: bool = False):
        self._generic = GenericSplitter(max_chunk_size, cut_values=cut_values)

    def split(self, message: Message, sink: ChunkSink) -> chunk_pb2.ChunkedMessage:
        if not message.meta_graphs or not message.meta_graphs[0].HasField("graph_def"):
            return self._generic.split(message, sink)
        root = self._generic.split(_without_first_graph(message), sink)
        graph = self._generic.split(message.meta_graphs[0].graph_def, sink)
        tags = [
            chunk_pb2.FieldIndex(field=_META_GRAPHS),
            chunk_pb2.FieldIndex(index=0),
            chunk_pb2.FieldIndex(field=_GRAPH_DEF),
        ]
        extensions.move_guard(graph, root)
        root.chunked_fields.add(field_tag=tags, message=graph)
        return root


def _without_first_graph(saved_model: Message) -> Message:
    """A copy of the SavedModel without meta_graphs[0].graph_def, built field by field (never copying the
    graph, which may be gigabytes)."""
    remainder = type(saved_model)()
    for field, value in saved_model.ListFields():
        if field.number != _META_GRAPHS:
            descriptors.copy_field(remainder, field, value)
    for position, meta_graph in enumerate(saved_model.meta_graphs):
        copy = remainder.meta_graphs.add()
        for field, value in meta_graph.ListFields():
            if position or field.number != _GRAPH_DEF:
                descriptors.copy_field(copy, field, value)
    return remainder


for _name in SAVED_MODEL_NAMES:
    registry.register(_name, SavedModelSplitter)
