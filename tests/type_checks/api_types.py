"""Checked by mypy (listed in pyproject's [tool.mypy] files, run by .ci/run and by tests/test_api_types.py): the
message class a caller passes is the type the public readers return, not a bare Message (nor Any)."""

from __future__ import annotations

import sys

import proto_splitter as ps
from proto_splitter.proto import chunk_pb2
from proto_splitter.tf.graph_pb2 import GraphDef

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type


def read_back(path: str, data: bytes) -> list[GraphDef]:
    """Each public reader, called with GraphDef, is typed as returning a GraphDef."""
    whole = ps.read(path, GraphDef)
    assert_type(whole, GraphDef)
    part = ps.read_partial(path, GraphDef, fields=["node[0]"])
    assert_type(part, GraphDef)
    from_bytes = ps.read_from_bytes(data, GraphDef)
    assert_type(from_bytes, GraphDef)
    chunks, chunked_message = ps.split(whole, max_chunk_size=1 << 20)
    merged = ps.merge(chunks, chunked_message, GraphDef)
    assert_type(merged, GraphDef)
    assert_type(ps.read_metadata(path), chunk_pb2.ChunkMetadata)
    return [whole, part, from_bytes, merged]
