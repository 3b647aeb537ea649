/* The field occurrences of a serialized protobuf message, at C speed: what proto_splitter.wire.scan yields, for
 * the bulk paths (cutting a serialized repeated field at element boundaries, finding elements in a chunk) where
 * a Python loop per occurrence costs seconds per million elements.
 *
 * occurrences(buffer, start, end) -> bytes: for each top-level occurrence of buffer[start:end] three little-endian
 * uint64s: the key ((field number << 3) | wire type), the occurrence's start, and its end (past a group's end tag).
 * Raises ValueError with the byte offset on malformed wire format (the same checks as wire.scan). The GIL is
 * released while scanning. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { VARINT = 0, FIXED64 = 1, LEN = 2, START_GROUP = 3, END_GROUP = 4, FIXED32 = 5 };

typedef struct {
    const uint8_t *data;
    Py_ssize_t end;
    Py_ssize_t error_at; /* where the scan failed, -1 when it did not */
    const char *error;
} Scanner;

static int fail(Scanner *s, Py_ssize_t at, const char *why) {
    s->error_at = at;
    s->error = why;
    return -1;
}

/* Decodes a varint at *pos (advancing it); -1 on truncation or a varint longer than ten bytes. */
static int read_varint(Scanner *s, Py_ssize_t *pos, uint64_t *value) {
    uint64_t result = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*pos >= s->end) return fail(s, *pos, "truncated varint");
        uint8_t byte = s->data[(*pos)++];
        result |= (uint64_t)(byte & 0x7F) << shift;
        if (byte < 0x80) {
            *value = result;
            return 0;
        }
    }
    return fail(s, *pos, "varint longer than 10 bytes");
}

/* Skips the value of an occurrence of wire type `type` whose key ended at *pos; for a group, up to and including
 * the matching end tag (`number` is the group's field number). */
static int skip_value(Scanner *s, Py_ssize_t *pos, int type, uint64_t number, Py_ssize_t occurrence) {
    uint64_t value;
    switch (type) {
        case VARINT:
            return read_varint(s, pos, &value);
        case FIXED64:
        case FIXED32: {
            Py_ssize_t width = type == FIXED64 ? 8 : 4;
            if (s->end - *pos < width) return fail(s, occurrence, "truncated fixed-width field");
            *pos += width;
            return 0;
        }
        case LEN:
            if (read_varint(s, pos, &value) < 0) return -1;
            if (value > (uint64_t)(s->end - *pos)) return fail(s, occurrence, "length runs past the end");
            *pos += (Py_ssize_t)value;
            return 0;
        case START_GROUP: {
            Py_ssize_t depth = 1;
            while (depth > 0) {
                Py_ssize_t tag_at = *pos;
                uint64_t key;
                if (read_varint(s, pos, &key) < 0) return -1;
                int inner = (int)(key & 7);
                if (inner == END_GROUP) {
                    if (--depth == 0 && (key >> 3) != number) return fail(s, tag_at, "group closed by another end tag");
                } else if (inner == START_GROUP) {
                    depth++;
                } else if (inner > FIXED32 || skip_value(s, pos, inner, key >> 3, tag_at) < 0) {
                    return s->error ? -1 : fail(s, tag_at, "invalid wire type");
                }
            }
            return 0;
        }
        default:
            return fail(s, occurrence, "invalid wire type");
    }
}

static PyObject *occurrences(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &start, &end)) return NULL;
    if (start < 0 || end > view.len || start > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "start and end must satisfy 0 <= start <= end <= len(buffer)");
        return NULL;
    }
    Py_ssize_t capacity = 1024, count = 0;
    uint64_t *table = PyMem_RawMalloc((size_t)capacity * 3 * sizeof(uint64_t));
    if (table == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    Scanner s = {(const uint8_t *)view.buf, end, -1, NULL};
    int memory_error = 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t pos = start;
    while (pos < end) {
        Py_ssize_t occurrence = pos;
        uint64_t key;
        if (read_varint(&s, &pos, &key) < 0) break;
        int type = (int)(key & 7);
        if ((key >> 3) == 0) {
            fail(&s, occurrence, "field number 0");
            break;
        }
        if (type == END_GROUP || type > FIXED32) {
            fail(&s, occurrence, "invalid wire type");
            break;
        }
        if (skip_value(&s, &pos, type, key >> 3, occurrence) < 0) break;
        if (count == capacity) {
            uint64_t *grown = PyMem_RawRealloc(table, (size_t)capacity * 2 * 3 * sizeof(uint64_t));
            if (grown == NULL) {
                memory_error = 1;
                break;
            }
            table = grown;
            capacity *= 2;
        }
        table[3 * count] = key;
        table[3 * count + 1] = (uint64_t)occurrence;
        table[3 * count + 2] = (uint64_t)pos;
        count++;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *result = NULL;
    if (memory_error) {
        PyErr_NoMemory();
    } else if (s.error != NULL) {
        PyErr_Format(PyExc_ValueError, "%s at byte %zd", s.error, s.error_at);
    } else {
        result = PyBytes_FromStringAndSize((const char *)table, count * 3 * (Py_ssize_t)sizeof(uint64_t));
    }
    PyMem_RawFree(table);
    return result;
}

static PyMethodDef methods[] = {
    {"occurrences", occurrences, METH_VARARGS,
     "occurrences(buffer, start, end) -> bytes of (key, start, end) uint64 triples of the top-level occurrences."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wire_scan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wire_scan(void) { return PyModule_Create(&module); }
