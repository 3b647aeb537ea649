"""TensorFlow TensorProto -> numpy array, without TensorFlow: dtype, shape, and the values from
`tensor_content` (raw little-endian bytes) or the typed `*_val` field (a short list repeats its last value)."""

from __future__ import annotations

import numpy as np

from ..errors import ProtoSplitterError


class TensorDecodeError(ProtoSplitterError):
    """A TensorProto that cannot be turned into a numpy array (unknown dtype, inconsistent size)."""


def _ml_dtype(name: str):
    """Types numpy lacks (bfloat16, float8): from ml_dtypes when it is installed (TensorFlow brings it)."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    return np.dtype(getattr(ml_dtypes, name))


# DataType number -> (numpy dtype or ml_dtypes name, the *_val field holding its values)
_NUMERIC = {
    1: (np.float32, "float_val"),
    2: (np.float64, "double_val"),
    3: (np.int32, "int_val"),
    4: (np.uint8, "int_val"),
    5: (np.int16, "int_val"),
    6: (np.int8, "int_val"),
    8: (np.complex64, "scomplex_val"),
    9: (np.int64, "int64_val"),
    10: (np.bool_, "bool_val"),
    11: (np.int8, "int_val"),
    12: (np.uint8, "int_val"),
    13: (np.int32, "int_val"),
    14: ("bfloat16", "half_val"),
    15: (np.int16, "int_val"),
    16: (np.uint16, "int_val"),
    17: (np.uint16, "int_val"),
    18: (np.complex128, "dcomplex_val"),
    19: (np.float16, "half_val"),
    22: (np.uint32, "uint32_val"),
    23: (np.uint64, "uint64_val"),
    24: ("float8_e5m2", "float8_val"),
    25: ("float8_e4m3fn", "float8_val"),
}
_STRING = 7
_BIT_PATTERNS = ("half_val",)  # half and bfloat16 values travel as their 16-bit patterns in int32s


def numpy_dtype(dtype_number: int) -> tuple[np.dtype, str]:
    """(numpy dtype, little-endian, of a TensorFlow DataType number; the TensorProto field holding its values)."""
    entry = _NUMERIC.get(dtype_number % 100)  # *_REF types (101...) hold the same values
    if entry is None:
        raise TensorDecodeError(f"cannot convert a tensor of DataType {dtype_number} to numpy")
    kind, field = entry
    dtype = _ml_dtype(kind) if isinstance(kind, str) else np.dtype(kind)
    if dtype is None:
        raise TensorDecodeError(f"a {kind} tensor needs the ml_dtypes package (pip install ml_dtypes)")
    return dtype.newbyteorder("<"), field


def shape_of(tensor) -> tuple[int, ...]:
    dims = tuple(dim.size for dim in tensor.tensor_shape.dim)
    if any(size < 0 for size in dims):
        raise TensorDecodeError(f"tensor shape {dims} is not fully defined")
    return dims


def to_numpy(tensor) -> np.ndarray:
    """The tensor's value as a numpy array (TensorFlow's `tf.make_ndarray` semantics)."""
    shape = shape_of(tensor)
    count = int(np.prod(shape, dtype=np.int64))
    if tensor.dtype == _STRING:
        values = np.array(list(tensor.string_val), dtype=object)
        return _fill(values, count, np.dtype(object)).reshape(shape)
    dtype, field = numpy_dtype(tensor.dtype)
    if tensor.tensor_content:
        content = tensor.tensor_content
        if len(content) != count * dtype.itemsize:
            raise TensorDecodeError(
                f"tensor_content has {len(content)} bytes; shape {shape} of {dtype} needs {count * dtype.itemsize}"
            )
        return np.frombuffer(content, dtype=dtype).astype(dtype.newbyteorder("="), copy=True).reshape(shape)
    return _fill(_typed_values(tensor, dtype, field), count, dtype).reshape(shape)


def _typed_values(tensor, dtype: np.dtype, field: str) -> np.ndarray:
    if field == "float8_val":
        return np.frombuffer(tensor.float8_val, dtype=dtype)
    raw = getattr(tensor, field)
    if field in _BIT_PATTERNS:
        return np.array(raw, dtype=np.uint16).view(dtype)
    if dtype.kind == "c":
        pairs = np.array(raw, dtype=np.float32 if dtype.itemsize == 8 else np.float64)
        return pairs[0::2] + 1j * pairs[1::2]
    return np.array(raw).astype(dtype)


def _fill(values: np.ndarray, count: int, dtype: np.dtype) -> np.ndarray:
    """TensorFlow's rule: no values means zeros; fewer values than elements repeats the last one."""
    if len(values) == count:
        return values.astype(dtype, copy=False)
    if len(values) > count:
        raise TensorDecodeError(f"tensor holds {len(values)} values for {count} elements")
    out = np.empty(count, dtype=dtype) if len(values) else np.zeros(count, dtype=dtype)
    if dtype == np.dtype(object) and not len(values):
        out[:] = b""
    out[: len(values)] = values
    if len(values):
        out[len(values) :] = values[-1]
    return out
