"""Indexes find GraphDef nodes by name: lists of NodeDef (a graph's `node`, a function's `node_def`) are keyed by
their field 1, `name`. Registered by full name for TensorFlow's class and for the shipped copy; no TensorFlow
import."""

from __future__ import annotations

from ..index_builder import register_keyed_type

NODE_DEF_NAMES = ("tensorflow.NodeDef", "proto_splitter.tf.NodeDef")

for _name in NODE_DEF_NAMES:
    register_keyed_type(_name)
