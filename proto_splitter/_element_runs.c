/* Runs of list elements at C speed: what the splitter needs to write a repeated field of millions of small messages
 * without a Python step per element (proto_splitter/element_runs.py documents each function and holds the Python
 * versions used when this extension is not built).
 *
 * frame(serialized, start_tag, end_tag, budget, size_limit, room) -> (run, count, stop, carried)
 *     Frames the element serializations an iterator yields as occurrences of one field into a run of at most
 *     `budget` bytes (or one element), stopping at an element to place on its own, at an element that starts the
 *     next run (carried), at the iterator's end or at its error.
 * sublevels(buffer, start, end, cap) -> int
 *     An upper bound (at most `cap`) of how many message levels the serialized message buffer[start:end] holds below
 *     itself, without a schema.
 * cut(buffer, start, end, key, budget, size_limit, room) -> bytes
 *     The occurrences of one field (`key`: number << 3 | wire type) in a serialized message as runs and single
 *     elements: int64 triples (start, end, index), index -1 for a run.
 *
 * An element stays in a run when its payload is under `size_limit` bytes and nests fewer than `room` message
 * levels below itself (payloads of fewer than 2 * room bytes cannot: each level costs a tag and a length). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { VARINT = 0, FIXED64 = 1, LEN = 2, START_GROUP = 3, END_GROUP = 4, FIXED32 = 5 };
enum { MAX_GROUP_NESTING = 512 }; /* deeper nesting counts as too deep: such elements are never inline */

/* The varint at data[*at:end], advancing *at; 0 when it is truncated or longer than ten bytes. */
static int next_varint(const uint8_t *data, Py_ssize_t *at, Py_ssize_t end, uint64_t *value) {
    uint64_t result = 0;
    for (int shift = 0; shift < 70 && *at < end; shift += 7) {
        uint8_t byte = data[(*at)++];
        result |= (uint64_t)(byte & 0x7F) << shift;
        if (byte < 0x80) {
            *value = result;
            return 1;
        }
    }
    return 0;
}

static Py_ssize_t put_varint(uint8_t *out, uint64_t value) {
    Py_ssize_t length = 0;
    while (value > 0x7F) {
        out[length++] = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    out[length++] = (uint8_t)value;
    return length;
}

/* Reads the body of a message at data[*at:end] (with group != 0, a group's body through its end tag) and returns
 * 1 + the levels of its deepest sub-message (any length-delimited payload that parses counts as one), counting no
 * further than cap; -1 when the bytes do not parse as a message. Past cap the body is only checked, not measured. */
static int body_levels(const uint8_t *data, Py_ssize_t *at, Py_ssize_t end, uint64_t group, int cap, int nesting,
                       Py_ssize_t *end_tag_at) {
    int deepest = 0;
    while (*at < end) {
        uint64_t key, size;
        Py_ssize_t tag_at = *at;
        if (!next_varint(data, at, end, &key) || (key >> 3) == 0) return -1;
        switch ((int)(key & 7)) {
            case VARINT:
                if (!next_varint(data, at, end, &size)) return -1;
                break;
            case FIXED64:
            case FIXED32: {
                Py_ssize_t width = (key & 7) == FIXED64 ? 8 : 4;
                if (end - *at < width) return -1;
                *at += width;
                break;
            }
            case LEN: {
                if (!next_varint(data, at, end, &size) || size > (uint64_t)(end - *at)) return -1;
                Py_ssize_t inner = *at;
                *at += (Py_ssize_t)size;
                if (deepest + 1 < cap) {
                    int levels = body_levels(data, &inner, *at, 0, cap - 1, nesting, NULL);
                    if (levels > deepest) deepest = levels;
                }
                break;
            }
            case START_GROUP: {
                if (nesting >= MAX_GROUP_NESTING) return -1;
                int levels = body_levels(data, at, end, key >> 3, cap - 1, nesting + 1, NULL);
                if (levels < 0) return -1;
                if (levels > deepest) deepest = levels;
                break;
            }
            case END_GROUP:
                if (group == 0 || (key >> 3) != group) return -1;
                if (end_tag_at != NULL) *end_tag_at = tag_at;
                return 1 + (deepest < cap ? deepest : cap);
            default:
                return -1;
        }
    }
    return group != 0 ? -1 : 1 + (deepest < cap ? deepest : cap);
}

/* The message levels below the message serialized in data[start:end], at most cap (cap when it does not parse). */
static Py_ssize_t sublevels_of(const uint8_t *data, Py_ssize_t start, Py_ssize_t end, Py_ssize_t cap) {
    if (cap <= 0) return 0;
    int bounded = cap > MAX_GROUP_NESTING ? MAX_GROUP_NESTING : (int)cap; /* bounds the recursion */
    Py_ssize_t at = start;
    int levels = body_levels(data, &at, end, 0, bounded + 1, 0, NULL);
    return levels < 0 || levels - 1 >= bounded ? cap : levels - 1;
}

static int stays_in_run(const uint8_t *payload, Py_ssize_t size, Py_ssize_t size_limit, Py_ssize_t room) {
    if (size >= size_limit) return 0;
    return size / 2 < room || sublevels_of(payload, 0, size, room) < room;
}

static PyObject *sublevels(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end, cap;
    if (!PyArg_ParseTuple(args, "y*nnn", &view, &start, &end, &cap)) return NULL;
    if (start < 0 || end > view.len || start > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "start and end must satisfy 0 <= start <= end <= len(buffer)");
        return NULL;
    }
    Py_ssize_t levels;
    Py_BEGIN_ALLOW_THREADS
    levels = sublevels_of((const uint8_t *)view.buf, start, end, cap);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(levels);
}

/* Makes room for `more` bytes at *length in the bytes object *run (doubling), or fails with MemoryError. */
static int reserve(PyObject **run, Py_ssize_t *capacity, Py_ssize_t length, Py_ssize_t more) {
    if (length + more <= *capacity) return 0;
    Py_ssize_t grown = *capacity * 2 > length + more ? *capacity * 2 : length + more;
    if (_PyBytes_Resize(run, grown) < 0) return -1;
    *capacity = grown;
    return 0;
}

static PyObject *frame(PyObject *self, PyObject *args) {
    PyObject *iterator;
    Py_buffer start_tag, end_tag;
    Py_ssize_t budget, size_limit, room;
    if (!PyArg_ParseTuple(args, "Oy*y*nnn", &iterator, &start_tag, &end_tag, &budget, &size_limit, &room)) return NULL;
    Py_ssize_t capacity = budget > 0 ? budget + 64 : 64, length = 0, count = 0;
    PyObject *run = PyBytes_FromStringAndSize(NULL, capacity), *stop = NULL;
    uint8_t head[10];
    int carried = 0;
    while (run != NULL && length < budget) {
        PyObject *item = PyIter_Next(iterator);
        if (item == NULL) {
            if (PyErr_Occurred()) { /* the caller handles the failed element (an exception object as `stop`) */
                PyObject *type, *value, *traceback;
                PyErr_Fetch(&type, &value, &traceback);
                PyErr_NormalizeException(&type, &value, &traceback);
                if (traceback != NULL) PyException_SetTraceback(value, traceback);
                Py_XDECREF(type);
                Py_XDECREF(traceback);
                stop = value;
            }
            break;
        }
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "frame() needs bytes from the iterator, got %.100s", Py_TYPE(item)->tp_name);
            Py_DECREF(item);
            Py_CLEAR(run);
            break;
        }
        const uint8_t *payload = (const uint8_t *)PyBytes_AS_STRING(item);
        Py_ssize_t size = PyBytes_GET_SIZE(item);
        Py_ssize_t framed = start_tag.len + (end_tag.len ? end_tag.len : put_varint(head, (uint64_t)size)) + size;
        int alone = !stays_in_run(payload, size, size_limit, room);
        if (alone || (count > 0 && length + framed > budget)) { /* placed alone, or the start of the next run */
            carried = !alone;
            stop = item;
            break;
        }
        if (reserve(&run, &capacity, length, start_tag.len + 10 + size + end_tag.len) < 0) {
            Py_DECREF(item);
            break;
        }
        uint8_t *out = (uint8_t *)PyBytes_AS_STRING(run) + length;
        memcpy(out, start_tag.buf, (size_t)start_tag.len);
        length += start_tag.len;
        if (end_tag.len == 0) length += put_varint(out + start_tag.len, (uint64_t)size);
        memcpy((uint8_t *)PyBytes_AS_STRING(run) + length, payload, (size_t)size);
        length += size;
        memcpy((uint8_t *)PyBytes_AS_STRING(run) + length, end_tag.buf, (size_t)end_tag.len);
        length += end_tag.len;
        count++;
        Py_DECREF(item);
    }
    PyBuffer_Release(&start_tag);
    PyBuffer_Release(&end_tag);
    if (run == NULL || _PyBytes_Resize(&run, length) < 0) {
        Py_XDECREF(stop);
        return NULL;
    }
    if (stop == NULL) stop = Py_NewRef(Py_None);
    return Py_BuildValue("(NnNO)", run, count, stop, carried ? Py_True : Py_False);
}

/* One top-level occurrence at data[*at:end]: its key and payload span (a group's body, before its end tag);
 * advances *at past it. 0 on malformed wire format, with *at at the occurrence. */
static int next_occurrence(const uint8_t *data, Py_ssize_t *at, Py_ssize_t end, uint64_t *key, Py_ssize_t *payload,
                           Py_ssize_t *payload_end) {
    Py_ssize_t begin = *at;
    uint64_t value;
    if (!next_varint(data, at, end, key) || (*key >> 3) == 0) goto malformed;
    switch ((int)(*key & 7)) {
        case VARINT:
            *payload = *at;
            if (!next_varint(data, at, end, &value)) goto malformed;
            *payload_end = *at;
            return 1;
        case FIXED64:
        case FIXED32: {
            Py_ssize_t width = (*key & 7) == FIXED64 ? 8 : 4;
            if (end - *at < width) goto malformed;
            *payload = *at;
            *at += width;
            *payload_end = *at;
            return 1;
        }
        case LEN:
            if (!next_varint(data, at, end, &value) || value > (uint64_t)(end - *at)) goto malformed;
            *payload = *at;
            *at += (Py_ssize_t)value;
            *payload_end = *at;
            return 1;
        case START_GROUP: {
            *payload = *at;
            if (body_levels(data, at, end, *key >> 3, 0, 1, payload_end) < 0) goto malformed;
            return 1;
        }
        default:
            goto malformed;
    }
malformed:
    *at = begin;
    return 0;
}

static PyObject *cut(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end, budget, size_limit, room;
    unsigned long long wanted;
    if (!PyArg_ParseTuple(args, "y*nnKnnn", &view, &start, &end, &wanted, &budget, &size_limit, &room)) return NULL;
    if (start < 0 || end > view.len || start > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "start and end must satisfy 0 <= start <= end <= len(buffer)");
        return NULL;
    }
    const uint8_t *data = (const uint8_t *)view.buf;
    Py_ssize_t capacity = 256, count = 0, at = start, index = 0, run_start = -1, run_end = -1;
    int64_t *table = PyMem_RawMalloc((size_t)capacity * 3 * sizeof(int64_t));
    Py_ssize_t failed_at = -1;
    int memory_error = table == NULL;
#define PUT(a, b, c)                                                                                     \
    do {                                                                                                 \
        if (count == capacity) {                                                                         \
            int64_t *grown = PyMem_RawRealloc(table, (size_t)capacity * 2 * 3 * sizeof(int64_t));        \
            if (grown == NULL) {                                                                         \
                memory_error = 1;                                                                        \
                goto done;                                                                               \
            }                                                                                            \
            table = grown;                                                                               \
            capacity *= 2;                                                                               \
        }                                                                                                \
        table[3 * count] = (a);                                                                          \
        table[3 * count + 1] = (b);                                                                      \
        table[3 * count + 2] = (c);                                                                      \
        count++;                                                                                         \
    } while (0)
    Py_BEGIN_ALLOW_THREADS
    while (!memory_error && at < end) {
        Py_ssize_t begin = at, payload, payload_end;
        uint64_t key;
        if (!next_occurrence(data, &at, end, &key, &payload, &payload_end)) {
            failed_at = at;
            break;
        }
        if (key != wanted) {
            if (run_start >= 0) PUT(run_start, run_end, -1);
            run_start = -1;
            continue;
        }
        if (stays_in_run(data + payload, payload_end - payload, size_limit, room)) {
            if (run_start >= 0 && at - run_start > budget) { /* a run is within budget, or one element */
                PUT(run_start, run_end, -1);
                run_start = -1;
            }
            if (run_start < 0) run_start = begin;
            run_end = at;
        } else {
            if (run_start >= 0) PUT(run_start, run_end, -1);
            run_start = -1;
            PUT(begin, at, index);
        }
        index++;
    }
    if (!memory_error && failed_at < 0 && run_start >= 0) PUT(run_start, run_end, -1);
done:
    Py_END_ALLOW_THREADS
#undef PUT
    PyBuffer_Release(&view);
    PyObject *result = NULL;
    if (memory_error) {
        PyErr_NoMemory();
    } else if (failed_at >= 0) {
        PyErr_Format(PyExc_ValueError, "malformed wire format at byte %zd", failed_at);
    } else {
        result = PyBytes_FromStringAndSize((const char *)table, count * 3 * (Py_ssize_t)sizeof(int64_t));
    }
    PyMem_RawFree(table);
    return result;
}

static PyMethodDef methods[] = {
    {"frame", frame, METH_VARARGS,
     "frame(serialized, start_tag, end_tag, budget, size_limit, room) -> (run, count, stop, carried)"},
    {"sublevels", sublevels, METH_VARARGS, "sublevels(buffer, start, end, cap) -> message levels below, at most cap"},
    {"cut", cut, METH_VARARGS, "cut(buffer, start, end, key, budget, size_limit, room) -> int64 (start, end, index)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_element_runs", NULL, -1, methods};

PyMODINIT_FUNC PyInit__element_runs(void) { return PyModule_Create(&module); }
