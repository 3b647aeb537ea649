"""--type: finding a message class by full name (messages the library ships, TensorFlow's), by
`module:Class`, or in a FileDescriptorSet (--descriptor-set)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import types
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from .. import riegeli
from ..errors import ProtoSplitterError
from ..index import Index
from ..index_builder import IndexBuilder
from ..proto import chunk_pb2
from .common import CliError

SHIPPED_MODULES = (
    "proto_splitter.testing.test_message_pb2",
    "proto_splitter.testing.test_message3_pb2",
    "proto_splitter.proto.chunk_pb2",
    "proto_splitter.proto.versions_pb2",
)
TENSORFLOW_MODULES = (
    "tensorflow.core.framework.graph_pb2",
    "tensorflow.core.framework.tensor_pb2",
    "tensorflow.core.framework.function_pb2",
    "tensorflow.core.protobuf.meta_graph_pb2",
    "tensorflow.core.protobuf.saved_model_pb2",
    "tensorflow.core.protobuf.saved_object_graph_pb2",
    "tensorflow.core.protobuf.trackable_object_graph_pb2",
)
COPIES_PACKAGE = "proto_splitter.tf"


def resolve(name: str | None, descriptor_set: str | None = None, required: bool = True) -> type | None:
    """The message class named by --type (and --descriptor-set); None when neither is given and not required."""
    if descriptor_set:
        return _from_descriptor_set(descriptor_set, name)
    if not name:
        if required:
            raise CliError(
                "this command needs the message type: pass --type (e.g. --type tensorflow.GraphDef, "
                "--type my_pkg.model_pb2:Model) or --descriptor-set FILE --type NAME"
            )
        return None
    name = name.strip().lstrip(".")
    if ":" in name:
        return _from_module(*name.split(":", 1), name)
    if name.startswith("tensorflow."):
        return _tensorflow_class(name)
    found = _from_pool(name, SHIPPED_MODULES)
    if found is not None:
        return found
    found = _from_python_path(name)
    if found is not None:
        return found
    raise CliError(
        f"unknown message type {name!r}; the library ships: {', '.join(shipped_names())} "
        "(and tensorflow.* types); for your own types use module:Class or --descriptor-set FILE"
    )


def shipped_names() -> list[str]:
    names = []
    for module_name in SHIPPED_MODULES:
        module = importlib.import_module(module_name)
        names.extend(
            sorted(
                module.DESCRIPTOR.message_types_by_name[key].full_name
                for key in module.DESCRIPTOR.message_types_by_name
            )
        )
    return names


def _from_pool(name: str, modules) -> type | None:
    for module_name in modules:
        importlib.import_module(module_name)
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(name)
    except KeyError:
        return None
    return message_factory.GetMessageClass(descriptor)


def _check_class(candidate, text: str) -> type:
    if not (isinstance(candidate, type) and issubclass(candidate, Message)):
        raise CliError(f"{text} is not a protobuf message class")
    return candidate


def _from_module(module_name: str, attribute: str, text: str) -> type:
    """module:Class (Class may be dotted for nested messages); the current folder is importable."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise CliError(f"--type {text}: cannot import module {module_name!r} ({error})") from None
    value = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise CliError(f"--type {text}: module {module_name!r} has no {attribute!r}")
        value = getattr(value, part)
    return _check_class(value, f"--type {text}")


def _from_python_path(name: str) -> type | None:
    """`package.module.Class` written with dots only (e.g. proto_splitter.tf.GraphDef)."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        value = module
        for part in parts[cut:]:
            value = getattr(value, part, None)
        if isinstance(value, type) and issubclass(value, Message):
            return value
        return None
    return None


# ---- TensorFlow ----------------------------------------------------------------------------------------------


def _tensorflow_class(name: str) -> type:
    """TensorFlow's own generated class when TensorFlow is installed, else the library's copies."""
    if _import_tensorflow_protos():
        found = _from_pool(name, ())
        if found is not None:
            return found
        raise CliError(
            f"TensorFlow has no message type {name!r} among {', '.join(TENSORFLOW_MODULES)}; "
            "use module:Class (e.g. tensorflow.core.protobuf.config_pb2:ConfigProto)"
        )
    found = _from_copies(name)
    if found is not None:
        return found
    raise CliError(
        f"{name}: TensorFlow is not installed and this installation has no copies of TensorFlow's "
        f"protos ({COPIES_PACKAGE}); pip install tensorflow-cpu, or use --descriptor-set FILE"
    )


def _import_tensorflow_protos() -> bool:
    """Imports TensorFlow's generated _pb2 modules without running tensorflow/__init__.py (which takes
    seconds and loads the whole runtime): a placeholder package stands in for `tensorflow` while they
    load, then is removed so that a later real `import tensorflow` runs normally."""
    if "tensorflow" in sys.modules and not getattr(sys.modules["tensorflow"], "_proto_splitter_stub", False):
        try:
            for module_name in TENSORFLOW_MODULES:
                importlib.import_module(module_name)
        except ImportError:
            return False
        return True
    try:
        spec = importlib.util.find_spec("tensorflow")
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    stub = types.ModuleType("tensorflow")
    stub.__path__ = list(spec.submodule_search_locations)
    stub._proto_splitter_stub = True
    sys.modules["tensorflow"] = stub
    try:
        for module_name in TENSORFLOW_MODULES:
            importlib.import_module(module_name)
    except ImportError:
        return False
    finally:
        if sys.modules.get("tensorflow") is stub:
            del sys.modules["tensorflow"]
    return True


def _from_copies(name: str) -> type | None:
    """The library's copies of TensorFlow's protos, found by full name or by class name."""
    try:
        copies = importlib.import_module(COPIES_PACKAGE)
    except ImportError:
        return None
    short = name.rsplit(".", 1)[-1]
    candidate = getattr(copies, short, None)
    classes = [value for value in vars(copies).values() if isinstance(value, type) and issubclass(value, Message)]
    if (
        isinstance(candidate, type)
        and issubclass(candidate, Message)
        and (candidate.DESCRIPTOR.full_name in (name, short) or candidate.DESCRIPTOR.name == short)
    ):
        return candidate
    for pool in {id(cls.DESCRIPTOR.file.pool): cls.DESCRIPTOR.file.pool for cls in classes}.values():
        try:
            return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
        except KeyError:
            continue
    return None


def tensorflow_available() -> bool:
    """Whether tensorflow.* types can be resolved (TensorFlow installed, or the library's copies)."""
    try:
        _tensorflow_class("tensorflow.GraphDef")
    except CliError:
        return False
    return True


# ---- FileDescriptorSet --------------------------------------------------------------------------------------


def _from_descriptor_set(path: str, name: str | None) -> type:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise CliError(f"cannot read descriptor set {path}: {error.strerror}") from None
    file_set = descriptor_pb2.FileDescriptorSet()
    try:
        file_set.ParseFromString(data)
    except DecodeError as error:
        raise CliError(f"{path} is not a FileDescriptorSet: {error}") from None
    if not file_set.file:
        raise CliError(f"{path} is not a FileDescriptorSet (it holds no files)")
    pool = descriptor_pool.DescriptorPool()
    _add_files(pool, file_set, path)
    names = [
        f"{proto.package}.{message.name}" if proto.package else message.name
        for proto in file_set.file
        for message in proto.message_type
    ]
    if not name:
        if len(names) == 1:
            name = names[0]
        else:
            raise CliError(
                f"{path} defines several messages; choose one with --type ({', '.join(names[:20])}"
                f"{', ...' if len(names) > 20 else ''})"
            )
    name = name.strip().lstrip(".")
    try:
        descriptor = pool.FindMessageTypeByName(name)
    except KeyError:
        raise CliError(
            f"{path} has no message {name!r}; it defines {', '.join(names[:20])}{', ...' if len(names) > 20 else ''}"
        ) from None
    return message_factory.GetMessageClass(descriptor)


def _add_files(pool: descriptor_pool.DescriptorPool, file_set: descriptor_pb2.FileDescriptorSet, path: str) -> None:
    """Adds the files in dependency order; imports missing from the set (e.g. google/protobuf/*.proto when
    protoc ran without --include_imports) come from the default pool when it has them."""
    by_name = {proto.name: proto for proto in file_set.file}
    added: set[str] = set()

    def add(file_name: str, chain: tuple) -> None:
        if file_name in added:
            return
        if file_name in chain:
            raise CliError(f"{path}: import cycle through {file_name}")
        proto = by_name.get(file_name)
        if proto is None:
            proto = _default_file(file_name)
            if proto is None:
                raise CliError(
                    f"{path}: {chain[-1] if chain else '?'} imports {file_name}, which the set lacks "
                    "(run protoc with --include_imports)"
                )
        for dependency in proto.dependency:
            add(dependency, (*chain, file_name))
        try:
            pool.Add(proto)
        except (TypeError, ValueError) as error:
            raise CliError(f"{path}: cannot load {file_name}: {error}") from None
        added.add(file_name)

    for proto in file_set.file:
        add(proto.name, ())


def _default_file(file_name: str) -> descriptor_pb2.FileDescriptorProto | None:
    if file_name.startswith("google/protobuf/") and file_name.endswith(".proto"):
        with contextlib.suppress(ImportError):  # well-known types enter the default pool when imported
            importlib.import_module(file_name[: -len(".proto")].replace("/", ".") + "_pb2")
    try:
        descriptor = descriptor_pool.Default().FindFileByName(file_name)
    except KeyError:
        return None
    proto = descriptor_pb2.FileDescriptorProto()
    descriptor.CopyToProto(proto)
    return proto


# ---- the type an index names ------------------------------------------------------------------------------


def index_builder(message_class: type | None, source: Any, metadata: chunk_pb2.ChunkMetadata) -> IndexBuilder:
    """The builder of the index of a `.cpb` made of the chunks of `source` (a path or an opened input, as
    riegeli.RecordReader takes: convert, recover): for `message_class`, else for the type the file's own index
    names when this library knows it (TensorFlow's by their copies, never importing TensorFlow), else without key
    tables."""
    if message_class is None:
        message_class = named_by_index(source, metadata)
    return IndexBuilder(message_class.DESCRIPTOR if message_class is not None else None)


def named_by_index(source: Any, metadata: chunk_pb2.ChunkMetadata) -> type | None:
    """The message type the index of `source` (a path or an opened input) names, when this library knows it
    (TensorFlow's by their copies, never importing TensorFlow); None when it has no index or the type is unknown."""
    if not metadata.HasField("index"):
        return None
    try:
        with riegeli.RecordReader(source) as reader:
            name = Index.load(reader, metadata, reader.read_last_record()).message_type
        if name.startswith(COPIES_PACKAGE + "."):  # written with the copies themselves
            from ..tf import saved_model_pb2  # imports every copy a GraphDef or a SavedModel uses

            pool = saved_model_pb2.DESCRIPTOR.pool
            return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
        return _from_copies(name) if name.startswith("tensorflow.") else resolve(name, required=False)
    except (CliError, ProtoSplitterError, OSError, KeyError):
        return None
