"""The one thing pyproject.toml cannot say: the optional AVX2 HighwayHash extension. When it cannot be built (no
compiler), the install goes on and the package hashes with highwayhash-cffi."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "proto_splitter.riegeli._highwayhash_avx2",
            sources=["proto_splitter/riegeli/_highwayhash_avx2.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
