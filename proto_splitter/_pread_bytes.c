/* Positioned reads of a record's bytes, the pieces its Riegeli block headers interrupt left out. `pieces`: a
 * sequence of ints, a positive n keeps the next n bytes of the file, a negative -n leaves them out (a block header).
 *
 * pread_bytes(fd, position, pieces) reads the kept bytes with vectored preadv calls straight into a new bytes object,
 * which it returns: the one buffer a protobuf setter then copies from, where a read into other memory would need one
 * more copy (bytes() of it) into fresh memory, costing as much as the read. Returns None when the file ends first.
 *
 * pread_checked(fd, position, pieces, out, span, hashes, key) reads them into the caller's writable buffer `out`
 * (of their size): a window of the file at a time into a buffer of the thread's, then copied into `out` and hashed
 * in one pass while the CPU's cache holds it (HighwayHash-64 under `key`, the core shared with
 * riegeli/_highwayhash_avx2.c), each `span` bytes (the last span: the rest) checked against the next of `hashes`
 * (native uint64 values). Returns True when every span matches, False at the first that does not or when the file
 * ends first. Present only where this CPU runs AVX2.
 *
 * Both raise OSError when a read fails, and release the GIL while reading. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "riegeli/_highwayhash_core.h"

#if defined(__unix__) || defined(__APPLE__)
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif
#define SCRATCH 4096 /* left-out bytes are read here (more than this: in several iovecs) */
#define HUGE_FROM (4 << 20) /* bytes objects this large are asked for huge pages, as numpy asks for its arrays */
#define WINDOW (120 << 10) /* file bytes pread_checked reads at a time, then copies and hashes from the CPU's cache */

/* Asks the kernel to back the pages of a new buffer with huge pages where it can (Linux, when transparent huge
 * pages are enabled for madvise): its first touch by the read then costs one fault per 2 MiB instead of one per
 * 4 KiB page. Only this buffer's pages are concerned; nothing is asked when the call is not available. */
static void advise_huge_pages(char *buffer, Py_ssize_t size) {
#ifdef MADV_HUGEPAGE
    if (size < HUGE_FROM) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t first = ((uintptr_t)buffer + page - 1) & ~(page - 1), last = ((uintptr_t)buffer + size) & ~(page - 1);
    if (last > first) madvise((void *)first, last - first, MADV_HUGEPAGE);
#else
    (void)buffer;
    (void)size;
#endif
}

/* The pieces argument as a C array (PyMem_Free it), with the number of kept bytes; NULL with an exception set. */
static long long *parse_pieces(PyObject *argument, Py_ssize_t *count, Py_ssize_t *kept) {
    PyObject *sequence = PySequence_Fast(argument, "pieces must be a sequence of ints");
    if (sequence == NULL) return NULL;
    *count = PySequence_Fast_GET_SIZE(sequence);
    *kept = 0;
    long long *pieces = PyMem_Malloc((*count ? (size_t)*count : 1) * sizeof(long long));
    if (pieces == NULL) {
        Py_DECREF(sequence);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < *count; i++) {
        pieces[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(sequence, i));
        if (pieces[i] == -1 && PyErr_Occurred()) break;
        if (pieces[i] == 0 || pieces[i] == LLONG_MIN || (pieces[i] > 0 && pieces[i] > PY_SSIZE_T_MAX - *kept)) {
            PyErr_SetString(PyExc_ValueError, "pieces must be nonzero and their sum must fit in memory");
            break;
        }
        if (pieces[i] > 0) *kept += (Py_ssize_t)pieces[i];
    }
    Py_DECREF(sequence);
    if (PyErr_Occurred()) {
        PyMem_Free(pieces);
        return NULL;
    }
    return pieces;
}

/* Where a read of the pieces stands: the file position, the piece being read and how much of it is read. */
typedef struct {
    const long long *pieces;
    Py_ssize_t count, piece;
    long long into_piece;
    long long position;
} Cursor;

/* Reads the next `want` kept bytes into `out` (left-out bytes on the way into scratch memory), IOV_MAX iovecs per
 * preadv call. Returns 0 when they are read, 1 when the file or the pieces end first, -1 when a read fails (errno).
 * Runs without the GIL. */
static int read_kept(int fd, Cursor *c, char *out, Py_ssize_t want) {
    static char scratch[SCRATCH]; /* written and never read: any thread may share it */
    struct iovec iov[IOV_MAX];
    while (want > 0) {
        int used = 0;
        Py_ssize_t planned = 0, i = c->piece;
        long long done = c->into_piece;
        while (i < c->count && used < IOV_MAX && planned < want) {
            long long size = c->pieces[i] > 0 ? c->pieces[i] : -c->pieces[i], left = size - done, take;
            if (c->pieces[i] > 0) {
                take = left < want - planned ? left : want - planned;
                iov[used].iov_base = out + planned;
                planned += (Py_ssize_t)take;
            } else {
                take = left < SCRATCH ? left : SCRATCH;
                iov[used].iov_base = scratch;
            }
            iov[used++].iov_len = (size_t)take;
            done += take;
            if (done == size) {
                i++;
                done = 0;
            }
        }
        if (used == 0) return 1;
        ssize_t got = preadv(fd, iov, used, (off_t)c->position);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return -1;
        if (got == 0) return 1;
        c->position += got;
        while (got > 0) { /* advance past what was read */
            long long piece = c->pieces[c->piece], size = piece > 0 ? piece : -piece;
            long long step = size - c->into_piece < got ? size - c->into_piece : got;
            if (piece > 0) {
                out += step;
                want -= (Py_ssize_t)step;
            }
            c->into_piece += step;
            got -= (ssize_t)step;
            if (c->into_piece == size) {
                c->piece++;
                c->into_piece = 0;
            }
        }
    }
    return 0;
}

static PyObject *pread_bytes(PyObject *self, PyObject *args) {
    int fd;
    long long position;
    PyObject *pieces_argument;
    if (!PyArg_ParseTuple(args, "iLO:pread_bytes", &fd, &position, &pieces_argument)) return NULL;
    if (position < 0) {
        PyErr_SetString(PyExc_ValueError, "position must be >= 0");
        return NULL;
    }
    Py_ssize_t count, kept;
    long long *pieces = parse_pieces(pieces_argument, &count, &kept);
    if (pieces == NULL) return NULL;
    PyObject *result = PyBytes_FromStringAndSize(NULL, kept);
    if (result == NULL) {
        PyMem_Free(pieces);
        return NULL;
    }
    char *out = PyBytes_AS_STRING(result);
    advise_huge_pages(out, kept);
    Cursor cursor = {pieces, count, 0, 0, position};
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = read_kept(fd, &cursor, out, kept);
    Py_END_ALLOW_THREADS
    PyMem_Free(pieces);
    if (status != 0) {
        Py_DECREF(result);
        if (status < 0) return PyErr_SetFromErrno(PyExc_OSError);
        Py_RETURN_NONE;
    }
    return result;
}

#if HH_HAVE_AVX2

/* A window's file bytes are read into a buffer of the call's (`bounce`, WINDOW + LINE bytes: less than glibc's
 * smallest threshold for memory mapped apart, 128 KiB, so that it comes from the heap, its pages in use already),
 * placed at the file position's offset within a cache line, so that the kernel's copy runs with source and
 * destination aligned alike (`rep movsb` runs 4x slower on some CPUs, AMD's among them, when the destination is 8
 * to 24 bytes ahead of the source within a cache line, which the 24-byte block headers cause in 3 of every 8 blocks
 * read straight into an array), then copied into `out` while they are hashed (hh_copy_feed). Left-out runs up to READ_THROUGH bytes are read and dropped; longer ones are
 * skipped. */
#define READ_THROUGH 4096
#define LINE 64

/* The next kept bytes from the cursor, `want` at most, and the left-out runs up to READ_THROUGH among them: their
 * length in the file (at most WINDOW bytes) from the cursor's position. */
static Py_ssize_t plan_read(Cursor c, Py_ssize_t want) {
    Py_ssize_t length = 0, kept = 0;
    while (c.piece < c.count && kept < want) {
        long long piece = c.pieces[c.piece], size = piece > 0 ? piece : -piece, left = size - c.into_piece, take;
        if (piece > 0) {
            take = left < want - kept ? left : want - kept;
            take = take < WINDOW - length ? take : WINDOW - length;
            kept += (Py_ssize_t)take;
        } else {
            if (left > READ_THROUGH || left > WINDOW - length) break;
            take = left;
        }
        if (take == 0) break;
        length += (Py_ssize_t)take;
        c.into_piece += take;
        if (c.into_piece == size) {
            c.piece++;
            c.into_piece = 0;
        }
    }
    return length;
}

/* Reads `length` bytes of the file from `position` into `into`. Returns 0, 1 when the file ends first, -1 when a
 * read fails (errno). */
static int pread_all(int fd, long long position, uint8_t *into, Py_ssize_t length) {
    for (Py_ssize_t done = 0; done < length;) {
        ssize_t got = pread(fd, into + done, (size_t)(length - done), (off_t)(position + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return -1;
        if (got == 0) return 1;
        done += got;
    }
    return 0;
}

/* Reads the next `want` kept bytes into `out` and feeds them to the hash (see above). Returns 0 when they are read,
 * 1 when the file or the pieces end first, -1 when a read fails (errno). Runs without the GIL. */
HH_TARGET static int read_kept_hashed(int fd, Cursor *c, uint8_t *out, Py_ssize_t want, uint8_t *bounce,
                                      HHState *state, uint8_t carry[32], size_t *carried) {
    while (want > 0) {
        if (c->piece >= c->count) return 1;
        long long piece = c->pieces[c->piece], left = (piece > 0 ? piece : -piece) - c->into_piece;
        if (piece < 0 && left > READ_THROUGH) { /* skipped, not read */
            c->position += left;
            c->piece++;
            c->into_piece = 0;
            continue;
        }
        Py_ssize_t length = plan_read(*c, want);
        uint8_t *read = bounce + (c->position & (LINE - 1)); /* bounce is LINE-aligned */
        int status = pread_all(fd, c->position, read, length);
        if (status != 0) return status;
        for (Py_ssize_t at = 0; at < length;) { /* the kept bytes copied and hashed, the left-out ones passed */
            long long size = c->pieces[c->piece] > 0 ? c->pieces[c->piece] : -c->pieces[c->piece];
            long long take = size - c->into_piece < length - at ? size - c->into_piece : length - at;
            if (c->pieces[c->piece] > 0) {
                hh_copy_feed(state, carry, carried, out, read + at, (size_t)take);
                out += take;
                want -= (Py_ssize_t)take;
            }
            at += (Py_ssize_t)take;
            c->position += take;
            c->into_piece += take;
            if (c->into_piece == size) {
                c->piece++;
                c->into_piece = 0;
            }
        }
    }
    return 0;
}

/* Reads `size` kept bytes into `out` through `bounce`, hashing each span as it arrives. Returns 0 when every span
 * matches its hash, 1 when one does not or the file ends first, -1 when a read fails (errno). */
HH_TARGET static int read_hashed(int fd, Cursor *c, uint8_t *out, Py_ssize_t size, uint8_t *bounce, Py_ssize_t span,
                                 const uint64_t *hashes, const uint64_t key[4]) {
    for (Py_ssize_t begin = 0, index = 0; begin < size || index == 0; begin += span, index++) {
        Py_ssize_t end = size - begin < span ? size : begin + span;
        HHState state;
        uint8_t carry[32];
        size_t carried = 0;
        hh_reset(&state, key);
        int status = read_kept_hashed(fd, c, out + begin, end - begin, bounce, &state, carry, &carried);
        if (status != 0) return status;
        if (hh_finish64(&state, carry, carried) != hashes[index]) return 1;
    }
    return 0;
}

static PyObject *pread_checked(PyObject *self, PyObject *args) {
    int fd;
    long long position;
    Py_ssize_t span;
    PyObject *pieces_argument;
    Py_buffer out, hashes, key;
    if (!PyArg_ParseTuple(args, "iLOw*ny*y*:pread_checked", &fd, &position, &pieces_argument, &out, &span, &hashes,
                          &key)) {
        return NULL;
    }
    Py_ssize_t count = 0, kept = 0, spans = out.len ? (out.len + span - 1) / (span > 0 ? span : 1) : 1;
    long long *pieces = NULL;
    if (position < 0 || span <= 0) {
        PyErr_SetString(PyExc_ValueError, "position must be >= 0 and span > 0");
    } else if (key.len != 32) {
        PyErr_SetString(PyExc_ValueError, "the key must be 32 bytes");
    } else if (hashes.len != spans * (Py_ssize_t)sizeof(uint64_t)) {
        PyErr_SetString(PyExc_ValueError, "hashes must hold one uint64 per span of out");
    } else if ((pieces = parse_pieces(pieces_argument, &count, &kept)) != NULL && kept != out.len) {
        PyErr_SetString(PyExc_ValueError, "out must be as long as the kept pieces");
    }
    PyObject *result = NULL;
    if (!PyErr_Occurred()) {
        uint64_t key_lanes[4];
        memcpy(key_lanes, key.buf, sizeof key_lanes);
        uint64_t *expected = PyMem_Malloc((size_t)spans * sizeof(uint64_t)); /* hashes.buf need not be aligned */
        uint8_t *memory = PyMem_Malloc(WINDOW + 2 * LINE);
        if (expected == NULL || memory == NULL) {
            PyErr_NoMemory();
        } else {
            uint8_t *bounce = memory + (LINE - (uintptr_t)memory % LINE);
            memcpy(expected, hashes.buf, (size_t)spans * sizeof(uint64_t));
            Cursor cursor = {pieces, count, 0, 0, position};
            int status;
            Py_BEGIN_ALLOW_THREADS
            status = read_hashed(fd, &cursor, (uint8_t *)out.buf, out.len, bounce, span, expected, key_lanes);
            Py_END_ALLOW_THREADS
            result = status < 0 ? PyErr_SetFromErrno(PyExc_OSError) : PyBool_FromLong(status == 0);
        }
        PyMem_Free(memory);
        PyMem_Free(expected);
    }
    PyMem_Free(pieces);
    PyBuffer_Release(&out);
    PyBuffer_Release(&hashes);
    PyBuffer_Release(&key);
    return result;
}

static PyMethodDef checked_methods[] = {
    {"pread_checked", pread_checked, METH_VARARGS,
     "pread_checked(fd, position, pieces, out, span, hashes, key) -> bool: the kept pieces read into `out`, each "
     "span checked against its HighwayHash-64 in `hashes` as it is read."},
    {NULL, NULL, 0, NULL},
};

#endif

#define AVAILABLE 1
#else
#define AVAILABLE 0
#endif

static PyMethodDef methods[] = {
#if AVAILABLE
    {"pread_bytes", pread_bytes, METH_VARARGS,
     "pread_bytes(fd, position, pieces) -> bytes or None: the kept pieces (positive lengths) of the file from "
     "`position`, the others (negative lengths) left out, read straight into a new bytes object."},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pread_bytes", NULL, -1, methods};

PyMODINIT_FUNC PyInit__pread_bytes(void) {
    PyObject *created = PyModule_Create(&module);
#if AVAILABLE && HH_HAVE_AVX2
    if (created != NULL && cpu_has_avx2() && PyModule_AddFunctions(created, checked_methods) < 0) {
        Py_DECREF(created);
        return NULL;
    }
#endif
    return created;
}
