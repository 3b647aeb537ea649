/* The field occurrences of a serialized protobuf message, at C speed: what proto_splitter.wire.scan yields, for
 * the bulk paths (cutting a serialized repeated field at element boundaries, finding elements in a chunk, indexing
 * chunks) where a Python loop per occurrence costs seconds per million elements.
 *
 * occurrences(buffer, start, end) -> bytes: for each top-level occurrence of buffer[start:end] three little-endian
 * uint64s: the key ((field number << 3) | wire type), the occurrence's start, and its end (past a group's end tag).
 * nested(buffer, ranges) -> bytes: for each occurrence at the top level of each range (ranges: uint64 start, end
 * pairs) five uint64s: the range's position, the key, the start, the payload's start and the payload's end.
 * summarize(buffer, start, end, gap) -> (fields, checkpoints) or None: per field number, its occurrence count and
 * checkpoints (ordinal, start) at least `gap` bytes apart (see proto_splitter.wire.summarize).
 * Summarizer(gap).feed(buffer, start, end, offset, total) -> resume, .finish(): the same over a message given
 * window by window (see proto_splitter.wire.SummaryStream).
 * element_keys(buffer, start, end, field_number, key_field) -> bytes: a uint32 key hash per occurrence of
 * `field_number`, of the last length-delimited `key_field` inside it (see proto_splitter.wire.element_keys).
 * nth(buffer, start, end, field_number, n) -> (found, a, b): the n-th occurrence of a field in a window that may end
 * inside an occurrence, or where to resume (see proto_splitter.wire.nth_occurrence).
 * key_hash(bytes) -> int: the 32-bit key hash (FNV-1a 64 finished by MurmurHash3's fmix64, upper half).
 * key_entries(keys, out): a key table's entries (key << 32 | ordinal) from uint32 keys, sorted into `out` (see
 * proto_splitter.wire.key_entries).
 * Malformed wire format raises ValueError with the byte offset (the same checks as wire.scan). The GIL is released
 * while scanning. */
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
    int truncated; /* the failure is bytes missing at the end (a window may just be too short) */
} Scanner;

static int fail(Scanner *s, Py_ssize_t at, const char *why) {
    s->error_at = at;
    s->error = why;
    return -1;
}

static int truncate_at(Scanner *s, Py_ssize_t at, const char *why) {
    s->truncated = 1;
    return fail(s, at, why);
}

/* Decodes a varint at *pos (advancing it); -1 on truncation or a varint longer than ten bytes. */
static int read_varint(Scanner *s, Py_ssize_t *pos, uint64_t *value) {
    if (*pos < s->end && s->data[*pos] < 0x80) { /* one byte: most keys and lengths */
        *value = s->data[(*pos)++];
        return 0;
    }
    uint64_t result = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*pos >= s->end) return truncate_at(s, *pos, "truncated varint");
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
            if (s->end - *pos < width) return truncate_at(s, occurrence, "truncated fixed-width field");
            *pos += width;
            return 0;
        }
        case LEN:
            if (read_varint(s, pos, &value) < 0) return -1;
            if (value > (uint64_t)(s->end - *pos)) return truncate_at(s, occurrence, "length runs past the end");
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

/* Reads and checks the key of the occurrence at *pos (advancing past it). */
static int read_key(Scanner *s, Py_ssize_t *pos, uint64_t *key) {
    Py_ssize_t occurrence = *pos;
    if (read_varint(s, pos, key) < 0) return -1;
    int type = (int)(*key & 7);
    if ((*key >> 3) == 0) return fail(s, occurrence, "field number 0");
    if (type == END_GROUP || type > FIXED32) return fail(s, occurrence, "invalid wire type");
    return 0;
}

/* Reads the occurrence at *pos: its key, and *pos past it. */
static int next_occurrence(Scanner *s, Py_ssize_t *pos, uint64_t *key) {
    Py_ssize_t occurrence = *pos;
    if (read_key(s, pos, key) < 0) return -1;
    return skip_value(s, pos, (int)(*key & 7), *key >> 3, occurrence);
}

/* A growing array of uint64 rows of `width` values. */
typedef struct {
    uint64_t *values;
    Py_ssize_t rows, capacity, width;
} Rows;

static int rows_init(Rows *rows, Py_ssize_t width) {
    rows->rows = 0;
    rows->capacity = 1024;
    rows->width = width;
    rows->values = PyMem_RawMalloc((size_t)(rows->capacity * width) * sizeof(uint64_t));
    return rows->values == NULL ? -1 : 0;
}

/* Room for one more row: its first value, or NULL when out of memory. */
static uint64_t *rows_add(Rows *rows) {
    if (rows->rows == rows->capacity) {
        uint64_t *grown = PyMem_RawRealloc(rows->values, (size_t)(rows->capacity * 2 * rows->width) * sizeof(uint64_t));
        if (grown == NULL) return NULL;
        rows->values = grown;
        rows->capacity *= 2;
    }
    return rows->values + rows->width * rows->rows++;
}

/* The rows as bytes (NULL and an exception on failure), freeing them either way. */
static PyObject *rows_finish(Rows *rows, Scanner *s, int memory_error, Py_ssize_t item_size) {
    PyObject *result = NULL;
    if (memory_error) {
        PyErr_NoMemory();
    } else if (s->error != NULL) {
        PyErr_Format(PyExc_ValueError, "%s at byte %zd", s->error, s->error_at);
    } else {
        result = PyBytes_FromStringAndSize((const char *)rows->values, rows->rows * rows->width * item_size);
    }
    PyMem_RawFree(rows->values);
    return result;
}

/* Parses (buffer, start, end, ...) arguments and checks the range; 0 on success (then release view). */
static int check_range(Py_buffer *view, Py_ssize_t start, Py_ssize_t end) {
    if (start < 0 || end > view->len || start > end) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "start and end must satisfy 0 <= start <= end <= len(buffer)");
        return -1;
    }
    return 0;
}

static PyObject *occurrences(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    Rows rows;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &start, &end) || check_range(&view, start, end) < 0) return NULL;
    if (rows_init(&rows, 3) < 0) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    Scanner s = {(const uint8_t *)view.buf, end, -1, NULL, 0};
    int memory_error = 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t pos = start;
    while (pos < end) {
        Py_ssize_t occurrence = pos;
        uint64_t key, *row;
        if (next_occurrence(&s, &pos, &key) < 0) break;
        if ((row = rows_add(&rows)) == NULL) {
            memory_error = 1;
            break;
        }
        row[0] = key;
        row[1] = (uint64_t)occurrence;
        row[2] = (uint64_t)pos;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return rows_finish(&rows, &s, memory_error, sizeof(uint64_t));
}

static PyObject *nested(PyObject *self, PyObject *args) {
    Py_buffer view, ranges;
    Rows rows;
    if (!PyArg_ParseTuple(args, "y*y*", &view, &ranges)) return NULL;
    if (ranges.len % (2 * (Py_ssize_t)sizeof(uint64_t)) || rows_init(&rows, 5) < 0) {
        PyBuffer_Release(&view);
        PyBuffer_Release(&ranges);
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "ranges must be (start, end) uint64 pairs");
        return NULL;
    }
    const uint64_t *bounds = (const uint64_t *)ranges.buf;
    Py_ssize_t count = ranges.len / (2 * (Py_ssize_t)sizeof(uint64_t));
    Scanner s = {(const uint8_t *)view.buf, 0, -1, NULL, 0};
    int memory_error = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t range = 0; range < count && s.error == NULL && !memory_error; range++) {
        if (bounds[2 * range] > bounds[2 * range + 1] || bounds[2 * range + 1] > (uint64_t)view.len) {
            fail(&s, (Py_ssize_t)bounds[2 * range], "range outside the buffer");
            break;
        }
        Py_ssize_t pos = (Py_ssize_t)bounds[2 * range];
        s.end = (Py_ssize_t)bounds[2 * range + 1];
        while (pos < s.end) {
            Py_ssize_t occurrence = pos, payload;
            uint64_t key, size, *row;
            if (read_key(&s, &pos, &key) < 0) break;
            payload = pos;
            if ((key & 7) == LEN) {
                if (read_varint(&s, &payload, &size) < 0) break;
            }
            if (skip_value(&s, &pos, (int)(key & 7), key >> 3, occurrence) < 0) break;
            if ((row = rows_add(&rows)) == NULL) {
                memory_error = 1;
                break;
            }
            Py_ssize_t payload_end = pos;
            if ((key & 7) == START_GROUP) { /* the end tag has the group's number and wire type 4 */
                uint64_t end_key = ((key >> 3) << 3) | END_GROUP;
                do payload_end--; while (end_key >>= 7);
            }
            row[0] = (uint64_t)range;
            row[1] = key;
            row[2] = (uint64_t)occurrence;
            row[3] = (uint64_t)payload;
            row[4] = (uint64_t)payload_end;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyBuffer_Release(&ranges);
    return rows_finish(&rows, &s, memory_error, sizeof(uint64_t));
}

/* ---- key hashes ------------------------------------------------------------------------------------------- */

static uint64_t fmix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint32_t hash_bytes(const uint8_t *data, Py_ssize_t size) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (Py_ssize_t i = 0; i < size; i++) {
        h ^= data[i];
        h *= 0x100000001b3ULL;
    }
    return (uint32_t)(fmix64(h) >> 32);
}

static PyObject *key_hash(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    uint32_t h = hash_bytes((const uint8_t *)view.buf, view.len);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(h);
}

/* ---- summarize: occurrence counts and checkpoints per field ----------------------------------------------- */

#define MAX_FIELDS 65536 /* more distinct field numbers in one message: not summarized (None) */

typedef struct {
    uint64_t number, mask, count, last_checkpoint;
    Rows checkpoints; /* (ordinal, start) */
} FieldState;

typedef struct {
    FieldState *states;
    Py_ssize_t count, capacity;
    int32_t *slots; /* indices into states, -1 when empty; slot_count is a power of two */
    Py_ssize_t slot_count;
} FieldTable;

static void table_free(FieldTable *t) {
    for (Py_ssize_t i = 0; i < t->count; i++) PyMem_RawFree(t->states[i].checkpoints.values);
    PyMem_RawFree(t->states);
    PyMem_RawFree(t->slots);
}

static int table_rehash(FieldTable *t, Py_ssize_t slot_count) {
    int32_t *slots = PyMem_RawMalloc((size_t)slot_count * sizeof(int32_t));
    if (slots == NULL) return -1;
    for (Py_ssize_t i = 0; i < slot_count; i++) slots[i] = -1;
    for (Py_ssize_t i = 0; i < t->count; i++) {
        Py_ssize_t slot = (Py_ssize_t)(fmix64(t->states[i].number) & (uint64_t)(slot_count - 1));
        while (slots[slot] >= 0) slot = (slot + 1) & (slot_count - 1);
        slots[slot] = (int32_t)i;
    }
    PyMem_RawFree(t->slots);
    t->slots = slots;
    t->slot_count = slot_count;
    return 0;
}

/* The state of field `number`, added when new; NULL when out of memory (*too_many unset) or past MAX_FIELDS. */
static FieldState *table_find(FieldTable *t, uint64_t number, int *too_many) {
    Py_ssize_t slot = (Py_ssize_t)(fmix64(number) & (uint64_t)(t->slot_count - 1));
    while (t->slots[slot] >= 0) {
        if (t->states[t->slots[slot]].number == number) return &t->states[t->slots[slot]];
        slot = (slot + 1) & (t->slot_count - 1);
    }
    if (t->count == MAX_FIELDS) {
        *too_many = 1;
        return NULL;
    }
    if (t->count == t->capacity) {
        FieldState *grown = PyMem_RawRealloc(t->states, (size_t)t->capacity * 2 * sizeof(FieldState));
        if (grown == NULL) return NULL;
        t->states = grown;
        t->capacity *= 2;
    }
    FieldState *state = &t->states[t->count];
    memset(state, 0, sizeof(FieldState));
    if (rows_init(&state->checkpoints, 2) < 0) return NULL;
    state->number = number;
    t->slots[slot] = (int32_t)t->count;
    t->count++;
    if (t->count * 2 > t->slot_count && table_rehash(t, t->slot_count * 2) < 0) return NULL;
    return state;
}

/* Counts an occurrence starting at `start`, a checkpoint when it is the field's first or `gap` bytes past the
 * previous checkpoint; -1 when out of memory. */
static int count_occurrence(FieldState *state, int type, uint64_t start, uint64_t gap) {
    if (state->count == 0 || start - state->last_checkpoint >= gap) {
        uint64_t *row = rows_add(&state->checkpoints);
        if (row == NULL) return -1;
        row[0] = state->count;
        row[1] = start;
        state->last_checkpoint = start;
    }
    state->count++;
    state->mask |= 1ULL << type;
    return 0;
}

/* The summary as Python objects: (fields, checkpoints) bytes (see summarize). */
static PyObject *summary_objects(FieldTable *t) {
    Py_ssize_t rows = 0;
    for (Py_ssize_t i = 0; i < t->count; i++) rows += t->states[i].checkpoints.rows;
    PyObject *fields = PyBytes_FromStringAndSize(NULL, t->count * 5 * (Py_ssize_t)sizeof(uint64_t));
    PyObject *checkpoints = PyBytes_FromStringAndSize(NULL, rows * 2 * (Py_ssize_t)sizeof(uint64_t));
    PyObject *result = NULL;
    if (fields != NULL && checkpoints != NULL) {
        uint64_t *f = (uint64_t *)PyBytes_AS_STRING(fields);
        uint64_t *c = (uint64_t *)PyBytes_AS_STRING(checkpoints);
        Py_ssize_t row = 0;
        for (Py_ssize_t i = 0; i < t->count; i++) {
            FieldState *state = &t->states[i];
            Py_ssize_t used = state->checkpoints.rows;
            uint64_t values[5] = {state->number, state->mask, state->count, (uint64_t)row, (uint64_t)used};
            memcpy(f + 5 * i, values, sizeof(values));
            if (used) memcpy(c + 2 * row, state->checkpoints.values, (size_t)used * 2 * sizeof(uint64_t));
            row += used;
        }
        result = PyTuple_Pack(2, fields, checkpoints);
    }
    Py_XDECREF(fields);
    Py_XDECREF(checkpoints);
    return result;
}

/* Summarizes the occurrences of s->data[start:s->end], which holds bytes [offset, offset + s->end - start) of a
 * message of `total` bytes, into `t`. Returns the message position at which to go on: the window's end, past it
 * (a length-delimited occurrence whose payload runs on), or the start of an occurrence the window does not hold
 * whole (then s->error is set and s->truncated says the window is just too short). *too_many when the message has
 * more than MAX_FIELDS field numbers, *memory_error when out of memory (both stop the scan). */
static uint64_t summarize_window(FieldTable *t, Scanner *s, Py_ssize_t start, uint64_t offset, uint64_t total,
                                 uint64_t gap, int *too_many, int *memory_error) {
    Py_ssize_t pos = start;
    uint64_t window_end = offset + (uint64_t)(s->end - start);
    while (pos < s->end) {
        Py_ssize_t occurrence = pos;
        uint64_t key, size = 0, at = offset + (uint64_t)(occurrence - start), after = 0;
        if (read_key(s, &pos, &key) < 0) return at;
        if ((key & 7) == LEN) { /* the payload may run past the window: its length is checked against the message */
            if (read_varint(s, &pos, &size) < 0) return at;
            uint64_t payload = offset + (uint64_t)(pos - start);
            if (size > total - payload) {
                fail(s, occurrence, "length runs past the end");
                return at;
            }
            after = payload + size;
        } else if (skip_value(s, &pos, (int)(key & 7), key >> 3, occurrence) < 0) {
            return at;
        }
        FieldState *state = table_find(t, key >> 3, too_many);
        if (state == NULL || count_occurrence(state, (int)(key & 7), at, gap) < 0) {
            *memory_error = !*too_many;
            return at;
        }
        if ((key & 7) == LEN) {
            if (after > window_end) return after;
            pos += (Py_ssize_t)size;
        }
    }
    return window_end;
}

static int table_init(FieldTable *t) {
    t->states = PyMem_RawMalloc(16 * sizeof(FieldState));
    t->count = 0;
    t->capacity = 16;
    t->slots = NULL;
    t->slot_count = 0;
    if (t->states == NULL || table_rehash(t, 64) < 0) {
        PyMem_RawFree(t->states);
        t->states = NULL;
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Scans a window into `t` with the GIL released; the resume position, or (uint64_t)-1 and an exception. */
static uint64_t scan_window(FieldTable *t, Py_buffer *view, Py_ssize_t start, Py_ssize_t end, uint64_t offset,
                            uint64_t total, uint64_t gap, int *too_many) {
    Scanner s = {(const uint8_t *)view->buf, end, -1, NULL, 0};
    int memory_error = 0;
    uint64_t resume;
    int final = offset + (uint64_t)(end - start) == total;
    Py_BEGIN_ALLOW_THREADS
    resume = summarize_window(t, &s, start, offset, total, gap, too_many, &memory_error);
    Py_END_ALLOW_THREADS
    if (memory_error) {
        PyErr_NoMemory();
        return (uint64_t)-1;
    }
    if (s.error != NULL && (final || !s.truncated)) {
        PyErr_Format(PyExc_ValueError, "%s at byte %llu", s.error,
                     (unsigned long long)(offset + (uint64_t)(s.error_at - start)));
        return (uint64_t)-1;
    }
    return resume;
}

static PyObject *summarize(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    unsigned long long gap;
    if (!PyArg_ParseTuple(args, "y*nnK", &view, &start, &end, &gap) || check_range(&view, start, end) < 0) return NULL;
    FieldTable t;
    if (table_init(&t) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    int too_many = 0;
    uint64_t resume = scan_window(&t, &view, start, end, (uint64_t)start, (uint64_t)end, gap, &too_many);
    PyBuffer_Release(&view);
    PyObject *result = NULL;
    if (resume != (uint64_t)-1) result = too_many ? Py_NewRef(Py_None) : summary_objects(&t);
    table_free(&t);
    return result;
}

/* ---- Summarizer: summarize over a message given window by window ------------------------------------------ */

typedef struct {
    PyObject_HEAD
    FieldTable table;
    uint64_t gap;
    int too_many;
} SummarizerObject;

static int summarizer_init(SummarizerObject *self, PyObject *args, PyObject *kwargs) {
    unsigned long long gap;
    if (!PyArg_ParseTuple(args, "K:Summarizer", &gap)) return -1;
    if (self->table.states != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Summarizer initialized twice");
        return -1;
    }
    self->gap = gap;
    self->too_many = 0;
    return table_init(&self->table);
}

static void summarizer_dealloc(SummarizerObject *self) {
    if (self->table.states != NULL) table_free(&self->table);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *summarizer_feed(SummarizerObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    unsigned long long offset, total;
    if (!PyArg_ParseTuple(args, "y*nnKK", &view, &start, &end, &offset, &total) || check_range(&view, start, end) < 0)
        return NULL;
    if (self->table.states == NULL || offset > total || (uint64_t)(end - start) > total - offset) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "the window must lie within the message (and the Summarizer be made)");
        return NULL;
    }
    uint64_t resume = total;
    if (!self->too_many)
        resume = scan_window(&self->table, &view, start, end, offset, total, self->gap, &self->too_many);
    PyBuffer_Release(&view);
    if (resume == (uint64_t)-1) return NULL;
    return PyLong_FromUnsignedLongLong(self->too_many ? total : resume);
}

static PyObject *summarizer_finish(SummarizerObject *self, PyObject *unused) {
    if (self->table.states == NULL) {
        PyErr_SetString(PyExc_ValueError, "the Summarizer was not made");
        return NULL;
    }
    return self->too_many ? Py_NewRef(Py_None) : summary_objects(&self->table);
}

static PyMethodDef summarizer_methods[] = {
    {"feed", (PyCFunction)summarizer_feed, METH_VARARGS,
     "feed(buffer, start, end, offset, total) -> resume: summarizes the occurrences of buffer[start:end], bytes "
     "[offset, offset + end - start) of a message of `total` bytes; returns where to go on (the window's end, past it "
     "for a payload running on, or the start of an occurrence it does not hold whole: feed it again from there)."},
    {"finish", (PyCFunction)summarizer_finish, METH_NOARGS, "finish() -> (fields, checkpoints) or None, as summarize."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SummarizerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "proto_splitter._wire_scan.Summarizer",
    .tp_basicsize = sizeof(SummarizerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Summarizer(gap): summarize() over a message fed window by window.",
    .tp_methods = summarizer_methods,
    .tp_init = (initproc)summarizer_init,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)summarizer_dealloc,
};

/* ---- element_keys: the key of each element of a repeated message field ------------------------------------ */

/* Reads the length of a length-delimited occurrence whose key ended at *pos, leaving *pos at its payload; -1 when
 * the length is malformed or runs past the end. */
static int read_length(Scanner *s, Py_ssize_t *pos, Py_ssize_t occurrence, Py_ssize_t *size) {
    uint64_t value;
    if (read_varint(s, pos, &value) < 0) return -1;
    if (value > (uint64_t)(s->end - *pos)) return truncate_at(s, occurrence, "length runs past the end");
    *size = (Py_ssize_t)value;
    return 0;
}

/* The hash of the last length-delimited occurrence of `key_field` in the message data[start:end] (`empty`, the
 * empty string's, when there is none, or when the message is not valid wire format). */
static uint32_t element_key(const uint8_t *data, Py_ssize_t start, Py_ssize_t end, uint64_t key_field, uint32_t empty) {
    Scanner inner = {data, end, -1, NULL, 0};
    Py_ssize_t pos = start, key_start = 0, key_size = -1;
    while (pos < end) {
        Py_ssize_t occurrence = pos, size;
        uint64_t key;
        if (read_key(&inner, &pos, &key) < 0) return empty;
        if ((key & 7) != LEN) {
            if (skip_value(&inner, &pos, (int)(key & 7), key >> 3, occurrence) < 0) return empty;
            continue;
        }
        if (read_length(&inner, &pos, occurrence, &size) < 0) return empty;
        if ((key >> 3) == key_field) key_start = pos, key_size = size;
        pos += size;
    }
    return key_size < 0 ? empty : hash_bytes(data + key_start, key_size);
}

static PyObject *element_keys(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    unsigned long long field_number, key_field;
    Rows keys; /* uint32 hashes, two to a uint64 row */
    if (!PyArg_ParseTuple(args, "y*nnKK", &view, &start, &end, &field_number, &key_field) ||
        check_range(&view, start, end) < 0)
        return NULL;
    if (rows_init(&keys, 1) < 0) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    const uint8_t *data = (const uint8_t *)view.buf;
    const uint32_t empty = hash_bytes(data, 0);
    Scanner s = {data, end, -1, NULL, 0};
    int memory_error = 0;
    Py_ssize_t count = 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t pos = start;
    while (pos < end) {
        Py_ssize_t occurrence = pos, size = 0;
        uint64_t key;
        if (read_key(&s, &pos, &key) < 0) break;
        if ((key & 7) == LEN) {
            if (read_length(&s, &pos, occurrence, &size) < 0) break;
        } else if (skip_value(&s, &pos, (int)(key & 7), key >> 3, occurrence) < 0) {
            break;
        }
        if ((key >> 3) == field_number) {
            if (count % 2 == 0 && rows_add(&keys) == NULL) {
                memory_error = 1;
                break;
            }
            ((uint32_t *)keys.values)[count++] = (key & 7) == LEN ? element_key(data, pos, pos + size, key_field, empty)
                                                                   : empty;
        }
        pos += size;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    keys.rows = count; /* as uint32 items: rows_finish is given their size */
    return rows_finish(&keys, &s, memory_error, sizeof(uint32_t));
}

/* ---- key_entries: a key table's entries, sorted ------------------------------------------------------------ */

/* An MSD pass on the key's top 11 bits scatters the entries into `out` (one pass over memory, 2,048 write streams),
 * then each bucket (about a thousand entries for hashed keys) is sorted on the 21 bits left while the CPU's cache
 * holds it: three 7-bit LSD passes through a scratch buffer of the largest bucket's size. Every pass is stable, so
 * entries of equal keys stay in ordinal order, as a sort of the whole uint64s orders them. */
enum { TOP_BITS = 11, TOP_BUCKETS = 1 << TOP_BITS, LOW_BITS = 7, LOW_BUCKETS = 1 << LOW_BITS, LOW_DIGITS = 3 };
enum { INSERTION_MAX = 24 }; /* a bucket this small is sorted by insertion (its entries are distinct) */

static void insertion_sort(uint64_t *entries, Py_ssize_t count) {
    for (Py_ssize_t i = 1; i < count; i++) {
        uint64_t entry = entries[i];
        Py_ssize_t j = i;
        for (; j > 0 && entries[j - 1] > entry; j--) entries[j] = entries[j - 1];
        entries[j] = entry;
    }
}

/* Sorts entries[0:count], which share their top digit and are in ordinal order, by the rest of the key. */
static void sort_bucket(uint64_t *entries, Py_ssize_t count, uint64_t *scratch) {
    if (count <= INSERTION_MAX) {
        insertion_sort(entries, count);
        return;
    }
    Py_ssize_t starts[LOW_DIGITS][LOW_BUCKETS] = {{0}};
    for (Py_ssize_t i = 0; i < count; i++)
        for (int digit = 0; digit < LOW_DIGITS; digit++)
            starts[digit][(entries[i] >> (32 + LOW_BITS * digit)) & (LOW_BUCKETS - 1)]++;
    uint64_t *from = entries, *to = scratch;
    for (int digit = 0; digit < LOW_DIGITS; digit++) {
        Py_ssize_t total = 0;
        for (int bucket = 0; bucket < LOW_BUCKETS; bucket++) {
            Py_ssize_t size = starts[digit][bucket];
            starts[digit][bucket] = total;
            total += size;
        }
        int shift = 32 + LOW_BITS * digit;
        for (Py_ssize_t i = 0; i < count; i++) to[starts[digit][(from[i] >> shift) & (LOW_BUCKETS - 1)]++] = from[i];
        uint64_t *swap = from;
        from = to;
        to = swap;
    }
    memcpy(entries, from, (size_t)count * sizeof(uint64_t)); /* an odd number of passes ends in the scratch */
}

/* key_entries(keys, out): fills `out` (a writable buffer of as many uint64s) with (key << 32 | ordinal) for each
 * uint32 key of `keys` (its ordinal: its position), sorted. */
static PyObject *key_entries(PyObject *self, PyObject *args) {
    Py_buffer keys, out;
    if (!PyArg_ParseTuple(args, "y*w*", &keys, &out)) return NULL;
    Py_ssize_t count = keys.len / (Py_ssize_t)sizeof(uint32_t);
    Py_ssize_t *starts = NULL;
    uint64_t *scratch = NULL;
    int memory_error = 0;
    if (keys.len % (Py_ssize_t)sizeof(uint32_t) || out.len != count * (Py_ssize_t)sizeof(uint64_t) ||
        (uint64_t)count > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "key_entries needs uint32 keys (fewer than 2**32) and a uint64 buffer of "
                                          "as many items");
        PyBuffer_Release(&keys);
        PyBuffer_Release(&out);
        return NULL;
    }
    const uint32_t *key = (const uint32_t *)keys.buf;
    uint64_t *sorted = (uint64_t *)out.buf;
    Py_BEGIN_ALLOW_THREADS
    if ((starts = PyMem_RawCalloc(TOP_BUCKETS + 1, sizeof(Py_ssize_t))) == NULL) {
        memory_error = 1;
    } else {
        for (Py_ssize_t i = 0; i < count; i++) starts[(key[i] >> (32 - TOP_BITS)) + 1]++;
        Py_ssize_t largest = 0;
        for (int bucket = 0; bucket < TOP_BUCKETS; bucket++) { /* counts to each bucket's start (and end) */
            largest = starts[bucket + 1] > largest ? starts[bucket + 1] : largest;
            starts[bucket + 1] += starts[bucket];
        }
        if ((scratch = PyMem_RawMalloc((size_t)(largest ? largest : 1) * sizeof(uint64_t))) == NULL) {
            memory_error = 1;
        } else {
            Py_ssize_t *next = starts; /* each bucket's next free slot: its start moves to its end */
            for (Py_ssize_t i = 0; i < count; i++)
                sorted[next[key[i] >> (32 - TOP_BITS)]++] = ((uint64_t)key[i] << 32) | (uint64_t)i;
            Py_ssize_t begin = 0; /* after the scatter, starts[bucket] is the bucket's end */
            for (int bucket = 0; bucket < TOP_BUCKETS; bucket++) {
                sort_bucket(sorted + begin, starts[bucket] - begin, scratch);
                begin = starts[bucket];
            }
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(scratch);
    PyMem_RawFree(starts);
    PyBuffer_Release(&keys);
    PyBuffer_Release(&out);
    if (memory_error) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* ---- nth: one occurrence in a window of a longer message --------------------------------------------------- */

static PyObject *nth(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    unsigned long long field_number, n;
    if (!PyArg_ParseTuple(args, "y*nnKK", &view, &start, &end, &field_number, &n) ||
        check_range(&view, start, end) < 0)
        return NULL;
    Scanner s = {(const uint8_t *)view.buf, end, -1, NULL, 0};
    uint64_t seen = 0;
    int found = 0;
    Py_ssize_t pos = start, occurrence = start, after = start;
    Py_BEGIN_ALLOW_THREADS
    while (pos < end) {
        occurrence = pos;
        uint64_t key, value;
        if (read_key(&s, &pos, &key) < 0) break;
        if ((key & 7) == LEN) { /* the payload may run past the window: only its length is needed */
            if (read_varint(&s, &pos, &value) < 0) break;
            if (value > (uint64_t)PY_SSIZE_T_MAX - (uint64_t)pos) {
                fail(&s, occurrence, "length runs past the end");
                break;
            }
            after = pos + (Py_ssize_t)value;
        } else {
            if (skip_value(&s, &pos, (int)(key & 7), key >> 3, occurrence) < 0) break;
            after = pos;
        }
        if ((key >> 3) == field_number && seen == n) {
            found = 1;
            break;
        }
        if (after > end) break; /* an occurrence the window does not hold whole: resume at its start */
        if ((key >> 3) == field_number) seen++;
        pos = after;
        occurrence = pos;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (found) return Py_BuildValue("(inn)", 1, occurrence, after);
    if (s.error != NULL && !s.truncated) {
        PyErr_Format(PyExc_ValueError, "%s at byte %zd", s.error, s.error_at);
        return NULL;
    }
    return Py_BuildValue("(inK)", 0, occurrence, seen); /* resume at `occurrence` having seen `seen` */
}

static PyMethodDef methods[] = {
    {"occurrences", occurrences, METH_VARARGS,
     "occurrences(buffer, start, end) -> bytes of (key, start, end) uint64 triples of the top-level occurrences."},
    {"nested", nested, METH_VARARGS,
     "nested(buffer, ranges) -> bytes of (range, key, start, payload start, payload end) uint64 rows."},
    {"summarize", summarize, METH_VARARGS,
     "summarize(buffer, start, end, gap) -> (fields, checkpoints) or None: counts and checkpoints per field."},
    {"element_keys", element_keys, METH_VARARGS,
     "element_keys(buffer, start, end, field_number, key_field) -> bytes of uint32 key hashes."},
    {"nth", nth, METH_VARARGS, "nth(buffer, start, end, field_number, n) -> (found, position, end_or_seen)."},
    {"key_hash", key_hash, METH_VARARGS, "key_hash(bytes) -> the 32-bit key hash."},
    {"key_entries", key_entries, METH_VARARGS, "key_entries(keys, out): out = sorted (key << 32 | ordinal)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wire_scan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wire_scan(void) {
    if (PyType_Ready(&SummarizerType) < 0) return NULL;
    PyObject *created = PyModule_Create(&module);
    if (created != NULL && PyModule_AddObjectRef(created, "Summarizer", (PyObject *)&SummarizerType) < 0) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
