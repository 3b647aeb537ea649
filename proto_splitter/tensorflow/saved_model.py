"""SavedModels past 2 GiB from open-source TensorFlow: save with `saved_model.cpb`, load it back, and convert
a directory between `.pb` and `.cpb`.

TensorFlow's own save path already knows the chunked format (`SaveOptions(experimental_image_format=True)` hands
the SavedModel proto to a proto splitter), but open-source builds refuse the option and ship no splitter; its
Python loader reads only `saved_model.pb`. We run TensorFlow's own save and load and supply the missing pieces
for the duration of the call, so checkpoints, assets, fingerprints and debug info stay TensorFlow's: the
splitter behind the image format, a loader for `saved_model.cpb`, and a graph export that works past 2 GiB.
TensorFlow exports a graph through its C API as one serialized GraphDef, which protobuf's 32-bit sizes limit to
2 GiB: past that the C API returns a buffer of the right length that is no GraphDef (it starts with zeros), and
Python's parser stops at 2 GiB anyway. A graph past the limit is exported in parts instead, each through
TensorFlow's own export: its nodes, then its functions one at a time. These reach into TensorFlow's private
modules, checked with tensorflow-cpu 2.21."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

from .. import files
from ..errors import ProtoSplitterError, SplitError
from ..splitter import PROTOBUF_LIMIT

PathLike = str | os.PathLike
SAVED_MODEL_PREFIX = "saved_model"
GRAPH_EXPORT_LIMIT = PROTOBUF_LIMIT  # a graph serializing to more than this is exported in parts


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


class _GraphTooLarge(ProtoSplitterError):
    """TensorFlow's graph export produced a serialized GraphDef over the limit: no usable bytes (see above).
    Caught inside pstf.save."""

    def __init__(self, size: int):
        super().__init__(f"the serialized graph has {size} bytes")
        self.size = size


class _CompatRefusingLargeGraphs:
    """Stands in for the `compat` module inside tensorflow.python.framework.ops while a graph is exported:
    `as_bytes` of the serialized GraphDef over `limit` raises _GraphTooLarge instead of handing it to the parser."""

    def __init__(self, compat, limit: int):
        self._compat, self._limit = compat, limit

    def __getattr__(self, name: str):
        return getattr(self._compat, name)

    def as_bytes(self, data, *args, **kwargs):
        if len(data) > self._limit:
            raise _GraphTooLarge(len(data))
        return self._compat.as_bytes(data, *args, **kwargs)


@contextlib.contextmanager
def _functions_set_aside(graph, functions: list):
    """Removes `functions` from the graph's library for the duration of the block, then adds them back in
    their order (TensorFlow's own calls: the graph's library and its Python bookkeeping stay in step)."""
    for function in functions:
        graph._remove_function(function.name)
    try:
        yield
    finally:
        for function in functions:
            graph._add_function(function)


def _export_in_parts(export, graph, args, kwargs):
    """A GraphDef of any size built from parts that TensorFlow's export (`export`, with its post-processing
    such as shapes) handles: the graph's nodes with its library set aside, then each function from a scratch
    graph holding only it. Each part is under 2 GiB, since TensorFlow cannot hold a larger FunctionDef."""
    from tensorflow.python.framework import ops

    functions = list(graph._functions.values())
    with _functions_set_aside(graph, functions):
        graph_def, version = export(graph, *args, **kwargs)
    names = {function_def.signature.name for function_def in graph_def.library.function}
    gradients = {(gradient.function_name, gradient.gradient_func) for gradient in graph_def.library.gradient}
    for function in functions:
        scratch = ops.Graph()
        scratch._add_function(function)
        part, _ = export(scratch, *args, **kwargs)
        for function_def in part.library.function:
            if function_def.signature.name not in names:
                names.add(function_def.signature.name)
                graph_def.library.function.append(function_def)
        for gradient in part.library.gradient:
            if (gradient.function_name, gradient.gradient_func) not in gradients:
                gradients.add((gradient.function_name, gradient.gradient_func))
                graph_def.library.gradient.append(gradient)
    return graph_def, version


def _graph_export_of_any_size(limit: int, part_limit: int = PROTOBUF_LIMIT):
    """A replacement for TensorFlow's Graph._as_graph_def that works past 2 GiB: the graph is exported by
    TensorFlow whole when it serializes to at most `limit` bytes, else in parts (_export_in_parts), each of at
    most `part_limit` bytes (SplitError otherwise)."""
    from tensorflow.python.framework import ops

    original = ops.Graph._as_graph_def

    def refusing_over(most: int):
        def export(graph, *args, **kwargs):
            with _replaced(ops, "compat", _CompatRefusingLargeGraphs(ops.compat, most)):
                return original(graph, *args, **kwargs)

        return export

    def as_graph_def(graph, *args, **kwargs):
        try:
            return refusing_over(limit)(graph, *args, **kwargs)
        except _GraphTooLarge:
            pass
        try:
            return _export_in_parts(refusing_over(part_limit), graph, args, kwargs)
        except _GraphTooLarge as error:
            raise SplitError(
                f"TensorFlow cannot export this graph: a part of it (its nodes, or one function) serializes to "
                f"{error.size} bytes, over the limit of {part_limit} (protobuf's 2 GiB)"
            ) from None

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
    ops, as_graph_def = _graph_export_of_any_size(GRAPH_EXPORT_LIMIT)
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
