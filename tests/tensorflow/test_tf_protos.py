"""The shipped copies of TensorFlow's protos (proto_splitter.tf) match TensorFlow's own, field by field, so
bytes written with one parse with the other."""

from __future__ import annotations

import importlib

import pytest

pytest.importorskip("tensorflow", reason="tensorflow-cpu is not installed: cannot compare with its protos")

PAIRS = [
    ("graph_pb2", "tensorflow.core.framework.graph_pb2", "GraphDef"),
    ("saved_model_pb2", "tensorflow.core.protobuf.saved_model_pb2", "SavedModel"),
    ("meta_graph_pb2", "tensorflow.core.protobuf.meta_graph_pb2", "MetaGraphDef"),
    ("tensor_pb2", "tensorflow.core.framework.tensor_pb2", "TensorProto"),
    ("function_pb2", "tensorflow.core.framework.function_pb2", "FunctionDefLibrary"),
    ("saved_object_graph_pb2", "tensorflow.core.protobuf.saved_object_graph_pb2", "SavedObjectGraph"),
]


def _shape(descriptor, seen: dict) -> None:
    """Collects (field number -> name, type, label, map-ness, nested type name) for a type and all it reaches."""
    name = (
        descriptor.full_name.split(".", 1)[1]
        if descriptor.full_name.startswith("tensorflow.")
        else descriptor.full_name.removeprefix("proto_splitter.tf.")
    )
    if name in seen:
        return
    fields = {}
    seen[name] = fields
    for field in descriptor.fields:
        nested = field.message_type or field.enum_type
        nested_name = None
        if nested is not None:
            nested_name = nested.full_name.removeprefix("tensorflow.").removeprefix("proto_splitter.tf.")
        fields[field.number] = (field.name, field.type, field.is_repeated, nested_name)
        if field.message_type is not None:
            _shape(field.message_type, seen)


@pytest.mark.parametrize("ours, theirs, message", PAIRS)
def test_copy_matches_tensorflow(ours, theirs, message):
    our_descriptor = getattr(importlib.import_module(f"proto_splitter.tf.{ours}"), message).DESCRIPTOR
    their_descriptor = getattr(importlib.import_module(theirs), message).DESCRIPTOR
    mine, tf = {}, {}
    _shape(our_descriptor, mine)
    _shape(their_descriptor, tf)
    assert set(mine) <= set(tf)
    for name, fields in mine.items():
        assert fields == tf[name], name
    assert mine == {name: tf[name] for name in mine}
    assert set(mine) == set(tf), f"types TensorFlow reaches that the copy lacks: {set(tf) - set(mine)}"
