"""Turning tensor messages into numpy arrays: TensorFlow's TensorProto (dtype enum, tensor_shape, tensor_content
or typed *_val fields) and look-alikes such as proto_splitter.testing3.Tensor (dtype string, shape, content),
which are first rewritten as a TensorProto so that one decoder (proto_splitter.tensorflow.tensors) serves all."""

from __future__ import annotations

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from ..tensorflow.tensors import TensorDecodeError, to_numpy
from ..tf import tensor_pb2, types_pb2
from .common import CliError

_ALIASES = {
    "float32": "DT_FLOAT",
    "float": "DT_FLOAT",
    "float64": "DT_DOUBLE",
    "double": "DT_DOUBLE",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "uint8": "DT_UINT8",
    "int8": "DT_INT8",
    "int16": "DT_INT16",
    "uint16": "DT_UINT16",
    "uint32": "DT_UINT32",
    "uint64": "DT_UINT64",
    "bool": "DT_BOOL",
    "float16": "DT_HALF",
    "half": "DT_HALF",
    "bfloat16": "DT_BFLOAT16",
    "complex64": "DT_COMPLEX64",
    "complex128": "DT_COMPLEX128",
    "string": "DT_STRING",
}
_VALUE_FIELDS = (
    "half_val",
    "float_val",
    "double_val",
    "int_val",
    "string_val",
    "scomplex_val",
    "int64_val",
    "bool_val",
    "dcomplex_val",
    "uint32_val",
    "uint64_val",
)


def find_tensor(value) -> Message | None:
    """The tensor message in `value`: the value itself, or its `tensor` field (an AttrValue-like holder)."""
    if not isinstance(value, Message):
        return None
    fields = value.DESCRIPTOR.fields_by_name
    if "dtype" in fields:
        return value
    if "tensor" in fields and fields["tensor"].message_type is not None and value.HasField("tensor"):
        return value.tensor
    return None


def _dtype_name(tensor: Message) -> str:
    field = tensor.DESCRIPTOR.fields_by_name["dtype"]
    value = tensor.dtype
    if field.enum_type is not None:
        enum_value = field.enum_type.values_by_number.get(value)
        name = enum_value.name if enum_value is not None else str(value)
    else:
        name = str(value)
    return _ALIASES.get(name.lower(), name)


def _shape(tensor: Message) -> tuple[int, ...] | None:
    fields = tensor.DESCRIPTOR.fields_by_name
    if "tensor_shape" in fields:
        shape = tensor.tensor_shape
        if getattr(shape, "unknown_rank", False):
            return None
        return tuple(dim.size for dim in shape.dim)
    if "shape" in fields:
        field = fields["shape"]
        if field.message_type is not None and not field.is_repeated:
            return tuple(dim.size for dim in tensor.shape.dim)
        return tuple(tensor.shape)
    return None


def _content(tensor: Message) -> bytes:
    for name in ("tensor_content", "content"):
        field = tensor.DESCRIPTOR.fields_by_name.get(name)
        if field is not None and field.type == FieldDescriptor.TYPE_BYTES:
            return getattr(tensor, name)
    return b""


def _as_tensor_proto(tensor: Message) -> tensor_pb2.TensorProto:
    """The tensor rewritten as TensorFlow's TensorProto (shipped copy): dtype, shape, content, typed values."""
    name = _dtype_name(tensor)
    if name.removesuffix("_REF") not in types_pb2.DataType.keys():  # noqa: SIM118 (an enum wrapper, not a dict)
        raise CliError(f"cannot save a tensor of dtype {name} as .npy")
    shape = _shape(tensor)
    proto = tensor_pb2.TensorProto(
        dtype=types_pb2.DataType.Value(name.removesuffix("_REF")), tensor_content=_content(tensor)
    )
    fields = tensor.DESCRIPTOR.fields_by_name
    values = {field: list(getattr(tensor, field)) for field in _VALUE_FIELDS if field in fields}
    for field, items in values.items():
        getattr(proto, field).extend(item.encode() if isinstance(item, str) else item for item in items)
    if shape is None:  # unknown shape: as many elements as values given
        shape = (max((len(items) for items in values.values()), default=0),)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


def to_array(tensor: Message) -> tuple[np.ndarray, str | None]:
    """The tensor as a numpy array, and a note when it was converted (bfloat16 -> float32)."""
    proto = _as_tensor_proto(tensor)
    if proto.dtype == types_pb2.DT_BFLOAT16:  # .npy files cannot hold bfloat16: widen the bit patterns
        proto.dtype = types_pb2.DT_UINT16
        proto.int_val.extend(proto.half_val)
        proto.ClearField("half_val")
        try:
            bits = to_numpy(proto)
        except TensorDecodeError as error:
            raise CliError(str(error)) from None
        return (bits.astype("<u4") << 16).view("<f4"), "bfloat16 values saved as float32 (numpy has no bfloat16)"
    try:
        return to_numpy(proto), None
    except TensorDecodeError as error:
        raise CliError(str(error)) from None
