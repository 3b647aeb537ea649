/* Positioned reads into a new bytes object: pread_bytes(fd, position, pieces) reads the file from `position` on,
 * piece by piece (`pieces`: a sequence of ints, a positive n keeps the next n bytes, a negative -n leaves them
 * out: a Riegeli block header between a record's bytes), with vectored preadv calls straight into a bytes object
 * of the kept bytes' size, which it returns: the one buffer a protobuf setter then copies from, where a read into
 * other memory would need one more copy (bytes() of it) into fresh memory, costing as much as the read.
 * Returns None when the file ends first; raises OSError when a read fails. The GIL is released while reading. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

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

static PyObject *pread_bytes(PyObject *self, PyObject *args) {
    int fd;
    long long position;
    PyObject *pieces_argument;
    if (!PyArg_ParseTuple(args, "iLO:pread_bytes", &fd, &position, &pieces_argument)) return NULL;
    if (position < 0) {
        PyErr_SetString(PyExc_ValueError, "position must be >= 0");
        return NULL;
    }
    PyObject *sequence = PySequence_Fast(pieces_argument, "pieces must be a sequence of ints");
    if (sequence == NULL) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence), kept = 0;
    long long *pieces = PyMem_Malloc((count ? (size_t)count : 1) * sizeof(long long));
    if (pieces == NULL) {
        Py_DECREF(sequence);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        pieces[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(sequence, i));
        if (pieces[i] == -1 && PyErr_Occurred()) break;
        if (pieces[i] == 0 || pieces[i] == LLONG_MIN || (pieces[i] > 0 && pieces[i] > PY_SSIZE_T_MAX - kept)) {
            PyErr_SetString(PyExc_ValueError, "pieces must be nonzero and their sum must fit in memory");
            break;
        }
        if (pieces[i] > 0) kept += (Py_ssize_t)pieces[i];
    }
    Py_DECREF(sequence);
    PyObject *result = PyErr_Occurred() ? NULL : PyBytes_FromStringAndSize(NULL, kept);
    if (result == NULL) {
        PyMem_Free(pieces);
        return NULL;
    }
    char *out = PyBytes_AS_STRING(result);
    advise_huge_pages(out, kept);
    static char scratch[SCRATCH]; /* written and never read: any thread may share it */
    struct iovec iov[IOV_MAX];
    Py_ssize_t piece = 0, before = 0; /* the piece being read, and the kept bytes before it */
    long long into_piece = 0;         /* bytes of pieces[piece] already read */
    int ended = 0, failed = 0;
    Py_BEGIN_ALLOW_THREADS
    while (piece < count) {
        int used = 0;
        Py_ssize_t filled = before;
        for (Py_ssize_t i = piece; i < count && used < IOV_MAX; i++) {
            long long left = (pieces[i] > 0 ? pieces[i] : -pieces[i]) - (i == piece ? into_piece : 0);
            long long done = i == piece ? into_piece : 0;
            while (left > 0 && used < IOV_MAX) {
                long long take = pieces[i] > 0 ? left : (left < SCRATCH ? left : SCRATCH);
                iov[used].iov_base = pieces[i] > 0 ? out + filled + done : scratch;
                iov[used].iov_len = (size_t)take;
                used++;
                left -= take;
                done += take;
            }
            if (pieces[i] > 0) filled += (Py_ssize_t)pieces[i];
        }
        ssize_t got = preadv(fd, iov, used, (off_t)position);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            failed = 1;
            break;
        }
        if (got == 0) {
            ended = 1;
            break;
        }
        position += got;
        while (got > 0) { /* advance past what was read */
            long long size = pieces[piece] > 0 ? pieces[piece] : -pieces[piece];
            long long step = size - into_piece < got ? size - into_piece : got;
            into_piece += step;
            got -= step;
            if (into_piece == size) {
                before += pieces[piece] > 0 ? (Py_ssize_t)size : 0;
                piece++;
                into_piece = 0;
            }
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(pieces);
    if (failed) {
        Py_DECREF(result);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (ended) {
        Py_DECREF(result);
        Py_RETURN_NONE;
    }
    return result;
}

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

PyMODINIT_FUNC PyInit__pread_bytes(void) { return PyModule_Create(&module); }
