"""The one thing pyproject.toml cannot say: the optional C extensions, the AVX2 HighwayHash and the state machine of
transposed Riegeli chunks. When they cannot be built (no compiler), the install goes on and the package hashes with
highwayhash-cffi and runs the state machine in Python."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "proto_splitter.riegeli._highwayhash_avx2",
            sources=["proto_splitter/riegeli/_highwayhash_avx2.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "proto_splitter.riegeli._transposed",
            sources=["proto_splitter/riegeli/_transposed.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
    ]
)
