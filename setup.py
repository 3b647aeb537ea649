"""The one thing pyproject.toml cannot say: the optional C extensions. When they cannot be built (no compiler), the
install goes on: the package hashes with highwayhash-cffi instead of AVX2 HighwayHash, and scans wire format with
its Python scanner instead of _wire_scan, and frames list elements in Python instead of _element_runs."""

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
            "proto_splitter._wire_scan",
            sources=["proto_splitter/_wire_scan.c"],
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
