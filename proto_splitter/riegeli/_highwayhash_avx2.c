/* HighwayHash-64 with AVX2, written from the algorithm's description (Alakuijala, Cox, Wassenberg: "Fast keyed
 * hash/pseudo-random function using SIMD multiply and permute", 2016). The four 64-bit lanes of each state vector
 * live in one 256-bit register. The module exposes `hash64(data, key)` (data: a bytes-like object, or a list or tuple
 * of them hashed as their concatenation, which need not be built) and `available()`: the code is compiled for
 * AVX2 whatever the build flags, and `available()` says whether this CPU can run it, so the caller can fall back
 * to a portable implementation. `Hasher(key)` hashes a message given in consecutive parts (`update(data)`, then
 * `digest()`), none of which need be kept: a record read window by window into one buffer. On other architectures
 * the module builds with `available()` always False. The hash itself lives in _highwayhash_core.h, which
 * _pread_bytes.c includes too (it hashes what it reads while the CPU's cache holds it). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_highwayhash_core.h"

/* Inputs shorter than this are hashed without releasing the GIL: the release costs more than the hash. */
#define RELEASE_GIL_FROM 4096

#if HH_HAVE_AVX2

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
