"""The AVX2 HighwayHash extension against highwayhash-cffi's portable C, the reference it replaces (test_vectors
checks both against real files, byte for byte)."""

from __future__ import annotations

import itertools
import platform

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from proto_splitter.riegeli import highwayhash

avx2 = pytest.mark.skipif(
    not highwayhash.AVX2_AVAILABLE, reason="the AVX2 extension is not built or this CPU lacks AVX2"
)


def cpu_has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return " avx2" in cpuinfo.read()
    except OSError:
        return False


@pytest.mark.skipif(platform.machine() != "x86_64" or not cpu_has_avx2(), reason="needs an x86-64 CPU with AVX2")
def test_the_extension_is_built_and_used_where_the_cpu_has_avx2():
    assert highwayhash.IMPLEMENTATION == "avx2"


@avx2
@settings(max_examples=examples(2000), deadline=None)
@given(data=st.binary(max_size=200), key=st.binary(min_size=32, max_size=32))
def test_avx2_equals_the_portable_hash_for_every_length_and_key(data, key):
    assert highwayhash._highwayhash_avx2.hash64(data, key) == highwayhash.portable_hash64(data, key)


@avx2
@settings(max_examples=examples(50), deadline=None)
@given(data=st.binary(min_size=4000, max_size=70000), offset=st.integers(0, 31))
def test_avx2_equals_the_portable_hash_on_long_unaligned_views(data, offset):
    view = memoryview(data)[offset:]
    assert highwayhash.highway_hash(view) == highwayhash.portable_hash64(view)


@settings(max_examples=examples(300), deadline=None)
@given(parts=st.lists(st.binary(max_size=90), max_size=8), key=st.binary(min_size=32, max_size=32))
def test_a_list_of_parts_hashes_as_their_concatenation(parts, key):
    expected = highwayhash.portable_hash64(b"".join(parts), key)
    assert highwayhash.highway_hash(list(parts)) == highwayhash.highway_hash(b"".join(parts))
    if highwayhash.AVX2_AVAILABLE:
        assert highwayhash._highwayhash_avx2.hash64(parts, key) == expected
        assert highwayhash._highwayhash_avx2.hash64(tuple(map(memoryview, parts)), key) == expected


@avx2
def test_a_bad_part_is_refused():
    with pytest.raises(TypeError):
        highwayhash.highway_hash([b"ok", "text"])


@avx2
@pytest.mark.parametrize("data", [bytearray(b"abc" * 2000), memoryview(b"xyz" * 10)])
def test_avx2_accepts_any_contiguous_buffer(data):
    assert highwayhash.highway_hash(data) == highwayhash.portable_hash64(bytes(data))


@avx2
def test_avx2_refuses_bad_arguments():
    with pytest.raises(ValueError, match="32 bytes"):
        highwayhash._highwayhash_avx2.hash64(b"data", b"short key")
    with pytest.raises(BufferError):
        highwayhash.highway_hash(memoryview(b"0123456789")[::2])
    with pytest.raises(TypeError):
        highwayhash.highway_hash("text")
    with pytest.raises(TypeError):
        highwayhash._highwayhash_avx2.hash64(b"data")


@avx2
@settings(max_examples=examples(500), deadline=None)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=10))
def test_a_streaming_hasher_hashes_its_parts_as_their_concatenation(data, cuts):
    hasher = highwayhash.streaming_hasher()
    assert hasher is not None
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    scratch = bytearray(len(data))
    for start, end in itertools.pairwise(bounds):
        scratch[: end - start] = data[start:end]  # one buffer reused for every part
        hasher.update(memoryview(scratch)[: end - start])
    assert hasher.digest() == highwayhash.portable_hash64(data)


@avx2
def test_a_streaming_hasher_is_used_once():
    hasher = highwayhash.streaming_hasher()
    assert hasher is not None
    hasher.update(b"abc")
    hasher.digest()
    with pytest.raises(ValueError, match="after digest"):
        hasher.update(b"d")
    with pytest.raises(ValueError, match="twice"):
        hasher.digest()
    with pytest.raises(ValueError, match="32 bytes"):
        highwayhash._highwayhash_avx2.Hasher(b"short")
