/* HighwayHash-64 with AVX2, written from the algorithm's description (Alakuijala, Cox, Wassenberg: "Fast keyed
 * hash/pseudo-random function using SIMD multiply and permute", 2016). The four 64-bit lanes of each state vector
 * live in one 256-bit register. The module exposes `hash64(data, key)` (data: a bytes-like object, or a list or tuple
 * of them hashed as their concatenation, which need not be built) and `available()`: the code is compiled for
 * AVX2 whatever the build flags, and `available()` says whether this CPU can run it, so the caller can fall back
 * to a portable implementation. `Hasher(key)` hashes a message given in consecutive parts (`update(data)`, then
 * `digest()`), none of which need be kept: a record read window by window into one buffer. On other architectures
 * the module builds with `available()` always False. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define HH_HAVE_AVX2 1
#include <immintrin.h>
#else
#define HH_HAVE_AVX2 0
#endif

/* Inputs shorter than this are hashed without releasing the GIL: the release costs more than the hash. */
#define RELEASE_GIL_FROM 4096

#if HH_HAVE_AVX2

#define HH_TARGET __attribute__((target("avx2")))

typedef struct {
    __m256i v0, v1, mul0, mul1;
} HHState;

HH_TARGET static inline __m256i zipper_merge(__m256i v) {
    /* Byte order within each 128-bit half (two lanes) after the zipper merge of the two lanes. */
    const __m256i order = _mm256_setr_epi8(3, 12, 2, 5, 14, 1, 15, 0, 11, 4, 10, 13, 9, 6, 8, 7,
                                           3, 12, 2, 5, 14, 1, 15, 0, 11, 4, 10, 13, 9, 6, 8, 7);
    return _mm256_shuffle_epi8(v, order);
}

HH_TARGET static inline void hh_update(HHState *s, __m256i packet) {
    s->v1 = _mm256_add_epi64(s->v1, _mm256_add_epi64(s->mul0, packet));
    s->mul0 = _mm256_xor_si256(s->mul0, _mm256_mul_epu32(s->v1, _mm256_srli_epi64(s->v0, 32)));
    s->v0 = _mm256_add_epi64(s->v0, s->mul1);
    s->mul1 = _mm256_xor_si256(s->mul1, _mm256_mul_epu32(s->v0, _mm256_srli_epi64(s->v1, 32)));
    s->v0 = _mm256_add_epi64(s->v0, zipper_merge(s->v1));
    s->v1 = _mm256_add_epi64(s->v1, zipper_merge(s->v0));
}

HH_TARGET static void hh_reset(HHState *s, const uint64_t key[4]) {
    const __m256i k = _mm256_loadu_si256((const __m256i *)key);
    s->mul0 = _mm256_setr_epi64x((long long)0xdbe6d5d5fe4cce2fULL, (long long)0xa4093822299f31d0ULL,
                                 (long long)0x13198a2e03707344ULL, (long long)0x243f6a8885a308d3ULL);
    s->mul1 = _mm256_setr_epi64x((long long)0x3bd39e10cb0ef593ULL, (long long)0xc0acf169b5f18a8cULL,
                                 (long long)0xbe5466cf34e90c6cULL, (long long)0x452821e638d01377ULL);
    s->v0 = _mm256_xor_si256(s->mul0, k);
    /* Each key lane with its 32-bit halves swapped. */
    s->v1 = _mm256_xor_si256(s->mul1, _mm256_shuffle_epi32(k, _MM_SHUFFLE(2, 3, 0, 1)));
}

/* The last size % 32 bytes (0 < n < 32): the length goes into v0, rotates v1's 32-bit halves, and the bytes are
 * packed into one packet as the algorithm specifies (whole 4-byte words first, then up to 4 more bytes). */
HH_TARGET static void hh_update_remainder(HHState *s, const uint8_t *bytes, size_t n) {
    uint8_t packet[32] = {0};
    const size_t whole = n & ~(size_t)3, tail = n & 3;
    const uint8_t *rest = bytes + whole;
    const __m128i count = _mm_cvtsi32_si128((int)n);
    s->v0 = _mm256_add_epi64(s->v0, _mm256_set1_epi64x((long long)(((uint64_t)n << 32) + n)));
    s->v1 = _mm256_or_si256(_mm256_sll_epi32(s->v1, count),
                            _mm256_srl_epi32(s->v1, _mm_cvtsi32_si128(32 - (int)n)));
    memcpy(packet, bytes, whole);
    if (n & 16) {
        memcpy(packet + 28, rest + tail - 4, 4);
    } else if (tail) {
        packet[16] = rest[0];
        packet[17] = rest[tail >> 1];
        packet[18] = rest[tail - 1];
    }
    hh_update(s, _mm256_loadu_si256((const __m256i *)packet));
}

/* Feeds bytes to the state in whole packets; the last size % 32 bytes wait in `carry` (`*carried` of them) for the
 * next bytes or the end, so that parts of a message hash as their concatenation. */
HH_TARGET static void hh_feed(HHState *s, uint8_t carry[32], size_t *carried, const uint8_t *data, size_t size) {
    if (*carried) {
        size_t take = 32 - *carried < size ? 32 - *carried : size;
        memcpy(carry + *carried, data, take);
        *carried += take;
        data += take;
        size -= take;
        if (*carried < 32) return;
        hh_update(s, _mm256_loadu_si256((const __m256i *)carry));
        *carried = 0;
    }
    const size_t whole = size & ~(size_t)31;
    for (size_t i = 0; i < whole; i += 32) {
        hh_update(s, _mm256_loadu_si256((const __m256i *)(data + i)));
    }
    memcpy(carry, data + whole, size - whole);
    *carried = size - whole;
}

HH_TARGET static uint64_t hh_finish64(HHState *s, const uint8_t carry[32], size_t carried) {
    if (carried) {
        hh_update_remainder(s, carry, carried);
    }
    /* Four rounds on v0 with its lanes permuted (2, 3, 0, 1) and each lane's 32-bit halves swapped. */
    const __m256i permutation = _mm256_setr_epi32(5, 4, 7, 6, 1, 0, 3, 2);
    for (int round = 0; round < 4; ++round) {
        hh_update(s, _mm256_permutevar8x32_epi32(s->v0, permutation));
    }
    const __m256i sum = _mm256_add_epi64(_mm256_add_epi64(s->v0, s->v1), _mm256_add_epi64(s->mul0, s->mul1));
    return (uint64_t)_mm_cvtsi128_si64(_mm256_castsi256_si128(sum));
}

/* HighwayHash-64 of the concatenation of `count` buffers. */
HH_TARGET static uint64_t hh_hash64(const Py_buffer *parts, Py_ssize_t count, const uint64_t key[4]) {
    HHState s;
    uint8_t carry[32];
    size_t carried = 0;
    hh_reset(&s, key);
    for (Py_ssize_t i = 0; i < count; i++) {
        hh_feed(&s, carry, &carried, (const uint8_t *)parts[i].buf, (size_t)parts[i].len);
    }
    return hh_finish64(&s, carry, carried);
}

static int cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

#else

static int cpu_has_avx2(void) { return 0; }

#endif

/* Whether this CPU runs the AVX2 code: asked once, when the module is imported. */
static int have_avx2;

static PyObject *available(PyObject *self, PyObject *unused) {
    return PyBool_FromLong(have_avx2);
}

/* hash64(data, key), or hash64(parts, key) with a list or tuple of bytes-like parts: their concatenation's hash. */
static PyObject *hash64(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "hash64(data, key) takes exactly 2 arguments");
        return NULL;
    }
#if HH_HAVE_AVX2
    if (!have_avx2) {
        PyErr_SetString(PyExc_RuntimeError, "this CPU has no AVX2");
        return NULL;
    }
    Py_buffer key;
    if (PyObject_GetBuffer(args[1], &key, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (key.len != 32) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "the key must be 32 bytes");
        return NULL;
    }
    uint64_t key_lanes[4];
    memcpy(key_lanes, key.buf, sizeof key_lanes);
    PyBuffer_Release(&key);
    int listed = PyList_Check(args[0]) || PyTuple_Check(args[0]);
    PyObject *sequence = listed ? PySequence_Fast(args[0], "parts") : NULL;
    Py_ssize_t count = listed ? PySequence_Fast_GET_SIZE(sequence) : 1, got = 0, total = 0;
    Py_buffer *parts = PyMem_Calloc(count ? (size_t)count : 1, sizeof(Py_buffer));
    if (parts == NULL || (listed && sequence == NULL)) {
        PyMem_Free(parts);
        Py_XDECREF(sequence);
        return PyErr_NoMemory();
    }
    for (; got < count; got++) {
        PyObject *part = listed ? PySequence_Fast_GET_ITEM(sequence, got) : args[0];
        if (PyObject_GetBuffer(part, &parts[got], PyBUF_SIMPLE) < 0) break;
        total += parts[got].len;
    }
    PyObject *result = NULL;
    if (got == count) {
        uint64_t hash;
        if (total >= RELEASE_GIL_FROM) {
            Py_BEGIN_ALLOW_THREADS
            hash = hh_hash64(parts, count, key_lanes);
            Py_END_ALLOW_THREADS
        } else {
            hash = hh_hash64(parts, count, key_lanes);
        }
        result = PyLong_FromUnsignedLongLong(hash);
    }
    for (Py_ssize_t i = 0; i < got; i++) PyBuffer_Release(&parts[i]);
    PyMem_Free(parts);
    Py_XDECREF(sequence);
    return result;
#else
    PyErr_SetString(PyExc_RuntimeError, "built without AVX2 support");
    return NULL;
#endif
}

/* ---- Hasher: the hash of a message fed in parts ------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
#if HH_HAVE_AVX2
    uint8_t state[sizeof(HHState)]; /* an HHState copied in and out: objects are not 32-byte aligned */
    uint8_t carry[32];
    size_t carried;
#endif
    int finished;
} HasherObject;

static int hasher_init(HasherObject *self, PyObject *args, PyObject *kwargs) {
    Py_buffer key;
    if (!PyArg_ParseTuple(args, "y*:Hasher", &key)) return -1;
    if (key.len != 32) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "the key must be 32 bytes");
        return -1;
    }
#if HH_HAVE_AVX2
    if (!have_avx2) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_RuntimeError, "this CPU has no AVX2");
        return -1;
    }
    uint64_t key_lanes[4];
    HHState state;
    memcpy(key_lanes, key.buf, sizeof key_lanes);
    hh_reset(&state, key_lanes);
    memcpy(self->state, &state, sizeof state);
    self->carried = 0;
    self->finished = 0;
    PyBuffer_Release(&key);
    return 0;
#else
    PyBuffer_Release(&key);
    PyErr_SetString(PyExc_RuntimeError, "built without AVX2 support");
    return -1;
#endif
}

static PyObject *hasher_update(HasherObject *self, PyObject *data) {
#if HH_HAVE_AVX2
    if (self->finished) {
        PyErr_SetString(PyExc_ValueError, "update() after digest()");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return NULL;
    HHState state;
    memcpy(&state, self->state, sizeof state);
    if (view.len >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS
        hh_feed(&state, self->carry, &self->carried, (const uint8_t *)view.buf, (size_t)view.len);
        Py_END_ALLOW_THREADS
    } else {
        hh_feed(&state, self->carry, &self->carried, (const uint8_t *)view.buf, (size_t)view.len);
    }
    memcpy(self->state, &state, sizeof state);
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
#else
    PyErr_SetString(PyExc_RuntimeError, "built without AVX2 support");
    return NULL;
#endif
}

static PyObject *hasher_digest(HasherObject *self, PyObject *unused) {
#if HH_HAVE_AVX2
    if (self->finished) {
        PyErr_SetString(PyExc_ValueError, "digest() called twice");
        return NULL;
    }
    HHState state;
    memcpy(&state, self->state, sizeof state);
    self->finished = 1;
    return PyLong_FromUnsignedLongLong(hh_finish64(&state, self->carry, self->carried));
#else
    PyErr_SetString(PyExc_RuntimeError, "built without AVX2 support");
    return NULL;
#endif
}

static PyMethodDef hasher_methods[] = {
    {"update", (PyCFunction)hasher_update, METH_O, "update(data): hashes the next bytes of the message."},
    {"digest", (PyCFunction)hasher_digest, METH_NOARGS, "digest() -> int: the hash of all bytes fed (once)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HasherType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "proto_splitter.riegeli._highwayhash_avx2.Hasher",
    .tp_basicsize = sizeof(HasherObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Hasher(key): HighwayHash-64 of the concatenation of the parts given to update().",
    .tp_methods = hasher_methods,
    .tp_init = (initproc)hasher_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef methods[] = {
    {"hash64", (PyCFunction)(void (*)(void))hash64, METH_FASTCALL,
     "hash64(data, key) -> int: HighwayHash-64 under a 32-byte key of a contiguous bytes-like object, or of the "
     "concatenation of a list or tuple of them."},
    {"available", available, METH_NOARGS, "available() -> bool: whether this CPU runs hash64 (AVX2)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_highwayhash_avx2", "HighwayHash-64 with AVX2.", -1, methods,
};

PyMODINIT_FUNC PyInit__highwayhash_avx2(void) {
    have_avx2 = cpu_has_avx2();
    if (PyType_Ready(&HasherType) < 0) return NULL;
    PyObject *created = PyModule_Create(&module);
    if (created != NULL && PyModule_AddObjectRef(created, "Hasher", (PyObject *)&HasherType) < 0) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
