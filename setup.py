"""The one thing pyproject.toml cannot say: the optional C extensions. When they cannot be built (no compiler), the
install goes on and the package falls back to pure Python or portable code: highwayhash-cffi instead of the AVX2
HighwayHash, wire.scan instead of the _wire_scan scanner, the state machine of transposed Riegeli chunks in Python
instead of _transposed, list elements framed in Python instead of _element_runs, and records read into numpy
buffers instead of straight into bytes objects by _pread_bytes."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "proto_splitter.riegeli._highwayhash_avx2",
            sources=["proto_splitter/riegeli/_highwayhash_avx2.c"],
            depends=["proto_splitter/riegeli/_highwayhash_core.h"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "proto_splitter._wire_scan",
            sources=["proto_splitter/_wire_scan.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "proto_splitter.riegeli._transposed",
            sources=["proto_splitter/riegeli/_transposed.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "proto_splitter._pread_bytes",
            sources=["proto_splitter/_pread_bytes.c"],
            depends=["proto_splitter/riegeli/_highwayhash_core.h"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "proto_splitter._element_runs",
            sources=["proto_splitter/_element_runs.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
    ]
)
