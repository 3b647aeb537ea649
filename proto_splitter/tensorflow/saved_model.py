"""SavedModels past 2 GiB from open-source TensorFlow: save with `saved_model.cpb`, load it back, and convert
a directory between `.pb` and `.cpb`.

TensorFlow's own save path already knows the chunked format (`SaveOptions(experimental_image_format=True)` hands
the SavedModel proto to a proto splitter), but open-source builds refuse the option and ship no splitter; its
Python loader reads only `saved_model.pb`. We run TensorFlow's own save and load and supply the missing pieces
for the duration of the call, so checkpoints, assets, fingerprints and debug info stay TensorFlow's: the
splitter behind the image format, a loader for `saved_model.cpb`, and a graph export that parses a GraphDef
past 2 GiB (TensorFlow's parses it with upb, which stops at 2 GiB). These reach into TensorFlow's private
modules, checked with tensorflow-cpu 2.21."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

from .. import files, oversized
from ..errors import ProtoSplitterError
from ..merger import InMemoryChunks, Merger
from ..proto import chunk_pb2
from ..splitter import PROTOBUF_LIMIT

PathLike = str | os.PathLike
SAVED_MODEL_PREFIX = "saved_model"
GRAPH_PARSE_LIMIT = PROTOBUF_LIMIT  # graphs larger than this are parsed as a skeleton plus the values cut out


class _SavedModelWriter:
    """Stands in for TensorFlow's missing Python `proto_splitter` module inside `tf.saved_model.save`:
    `SavedModelSplitter(saved_model).write(prefix)`."""

    def __init__(self, max_chunk_size: int | None):
        self._max_chunk_size = max_chunk_size

    def SavedModelSplitter(self, saved_model):
        return _BoundWriter(saved_model, self._max_chunk_size)


class _BoundWriter:
    def __init__(self, saved_model, max_chunk_size: int | None):
        self._saved_model, self._max_chunk_size = saved_model, max_chunk_size

    def write(self, prefix: str) -> str:
        return files.write(self._saved_model, prefix, max_chunk_size=self._max_chunk_size)


@contextlib.contextmanager
def _replaced(module, name: str, value):
    """Sets module.name to value for the duration of the block (restoring or removing it after)."""
    missing = object()
    old = getattr(module, name, missing)
    setattr(module, name, value)
    try:
        yield
    finally:
        if old is missing:
            delattr(module, name)
        else:
            setattr(module, name, old)


class _CompatWithSkeletons:
    """Stands in for the `compat` module inside tensorflow.python.framework.ops while a graph is exported:
    `as_bytes` of a serialized GraphDef over the parse limit returns its skeleton (big values cut out, see
    oversized.cut) and keeps what was cut, to be merged back into the parsed GraphDef."""

    def __init__(self, compat, limit: int, graph_descriptor):
        self._compat, self._limit, self._descriptor = compat, limit, graph_descriptor
        self.cut_out: list[tuple[list, chunk_pb2.ChunkedMessage]] = []

    def __getattr__(self, name: str):
        return getattr(self._compat, name)

    def as_bytes(self, data, *args, **kwargs):
        data = self._compat.as_bytes(data, *args, **kwargs)
        if len(data) <= self._limit:
            return data
        chunks, chunked_message = oversized.cut(self._descriptor, data)
        rest = chunk_pb2.ChunkedMessage()
        rest.CopyFrom(chunked_message)
        rest.ClearField("chunk_index")
        self.cut_out.append((chunks, rest))
        return bytes(chunks[chunked_message.chunk_index])


def _graph_export_of_any_size(limit: int):
    """A replacement for TensorFlow's Graph._as_graph_def that works past 2 GiB: TensorFlow serializes the graph
    in C++ and parses it in Python, which upb refuses over 2 GiB. The parse gets the graph's skeleton; the big
    values cut out of it are merged into the result after TensorFlow's own post-processing (shapes)."""
    from tensorflow.core.framework import graph_pb2
    from tensorflow.python.framework import ops

    original = ops.Graph._as_graph_def

    def as_graph_def(graph, *args, **kwargs):
        shim = _CompatWithSkeletons(ops.compat, limit, graph_pb2.GraphDef.DESCRIPTOR)
        with _replaced(ops, "compat", shim):
            graph_def, version = original(graph, *args, **kwargs)
        for chunks, rest in shim.cut_out:
            Merger(InMemoryChunks(chunks)).merge(rest, graph_def)
        return graph_def, version

    return ops, as_graph_def


def _tensorflow():
    try:
        import tensorflow as tf
    except ImportError:
        raise ProtoSplitterError("this needs TensorFlow: pip install 'proto-splitter[tf]'") from None
    return tf


def save(obj, export_dir: PathLike, signatures=None, options=None, max_chunk_size: int | None = None) -> str:
    """Like `tf.saved_model.save`, but the SavedModel proto goes through the proto splitter: written as
    `saved_model.cpb` when it exceeds 2 GiB (or `max_chunk_size`), else as the usual `saved_model.pb`.
    Returns the path of the file written."""
    tf = _tensorflow()
    from tensorflow.python.saved_model import save as tf_save

    options = options or tf.saved_model.SaveOptions()
    options.experimental_image_format = True  # set after construction: the constructor refuses it in OSS
    export_dir = os.fspath(export_dir)
    ops, as_graph_def = _graph_export_of_any_size(GRAPH_PARSE_LIMIT)
    with (
        _replaced(tf_save, "proto_splitter", _SavedModelWriter(max_chunk_size)),
        _replaced(ops.Graph, "_as_graph_def", as_graph_def),
    ):
        tf.saved_model.save(obj, export_dir, signatures=signatures, options=options)
    return _saved_model_file(export_dir)


def _saved_model_file(export_dir: str) -> str:
    for name in (f"{SAVED_MODEL_PREFIX}.cpb", f"{SAVED_MODEL_PREFIX}.pb"):
        if os.path.exists(os.path.join(export_dir, name)):
            return os.path.join(export_dir, name)
    raise files.ChunkedFileNotFoundError(f"no saved_model.pb or saved_model.cpb in {export_dir!r}")


def _parse_saved_model(export_dir):
    """TensorFlow's `parse_saved_model`, reading `saved_model.cpb` (or `.pb`) with this library."""
    from tensorflow.core.protobuf import saved_model_pb2

    directory = os.fsdecode(export_dir)
    try:
        return files.read(_saved_model_file(directory), saved_model_pb2.SavedModel)
    except ProtoSplitterError as error:
        raise OSError(f"cannot read the SavedModel in {directory!r}: {error}") from error


def load(export_dir: PathLike, tags=None, options=None):
    """Like `tf.saved_model.load`, also for a directory holding `saved_model.cpb`."""
    tf = _tensorflow()
    from tensorflow.python.saved_model import loader_impl

    with _replaced(loader_impl, "parse_saved_model", _parse_saved_model):
        return tf.saved_model.load(os.fspath(export_dir), tags=tags, options=options)


def convert(
    src_dir: PathLike, dst_dir: PathLike, to: str = "cpb", max_chunk_size: int | None = None, options: str | None = None
) -> str:
    """Copies a SavedModel directory with its proto rewritten as `saved_model.cpb` (to="cpb") or
    `saved_model.pb` (to="pb", only when it fits the 2 GiB protobuf limit). Returns the new proto's path.

    The SavedModel message is read whole; the destination is built beside dst_dir and renamed into place,
    so a failure leaves no half-converted directory. Without TensorFlow the proto is read with the
    shipped copy of its schema."""
    if to not in ("cpb", "pb"):
        raise ProtoSplitterError(f"to must be 'cpb' or 'pb', got {to!r}")
    src_dir, dst_dir = os.fspath(src_dir), os.fspath(dst_dir)
    if os.path.exists(dst_dir):
        raise ProtoSplitterError(f"destination {dst_dir!r} already exists")
    saved_model = files.read(_saved_model_file(src_dir), _saved_model_class())
    parent = os.path.dirname(os.path.abspath(dst_dir))
    staging = tempfile.mkdtemp(prefix=".convert-", dir=parent)
    try:
        build = os.path.join(staging, "model")
        shutil.copytree(
            src_dir, build, ignore=shutil.ignore_patterns(f"{SAVED_MODEL_PREFIX}.pb", f"{SAVED_MODEL_PREFIX}.cpb")
        )
        written = _write_as(saved_model, os.path.join(build, SAVED_MODEL_PREFIX), to, max_chunk_size, options)
        os.rename(build, dst_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return os.path.join(dst_dir, os.path.basename(written))


def _saved_model_class() -> type:
    from .graphs import _classes

    return _classes()[1]


def _write_as(saved_model, prefix: str, to: str, max_chunk_size: int | None, options: str | None) -> str:
    if to == "pb":
        size = saved_model.ByteSize()
        if size > PROTOBUF_LIMIT:
            raise ProtoSplitterError(
                f"the SavedModel is {size} bytes, over the 2 GiB protobuf limit: keep it as saved_model.cpb"
            )
        return files.write(saved_model, prefix)
    path = prefix + ".cpb"
    files.write_chunked(saved_model, path, max_chunk_size, options)
    return path
