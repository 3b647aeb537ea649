/* The hot loops of transposed Riegeli chunks ('t'), in C: the twins of transposed_decoder.run and
 * transposed_encoder.transpose (proto_splitter/riegeli), which give the same results, errors and bytes. The Python
 * side parses and checks the chunk header and the compression; this module runs the state machine.
 *
 *   decode(states, first, nonproto_lengths, buffers, transitions, num_records, decoded_size)
 *       -> (bytes of the records, where each record begins and the last ends); ValueError for a damaged chunk.
 *   encode(records) -> ([(buffer type, bytes)], states part of the header, transitions).
 *
 * Written from the format as Google's riegeli defines it (riegeli/chunk_encoding/transpose_*). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- state kinds, as in transposed_states.py ------------------------------------------------------------- */

enum { NOOP, NONPROTO, MESSAGE_START, SUBMESSAGE_START, SUBMESSAGE_END, COPY_TAG, VARINT, FIXED, STRING };

/* A state, as transposed_states.NODE packs it ("<BBBBiI8s"). */
typedef struct {
    uint8_t kind, tag_len, size, implicit;
    int32_t buffer;
    uint32_t next;
    uint8_t tag[8];
} Node;

typedef struct {
    const uint8_t *data;
    Py_ssize_t size, cursor;
} Cursor;

/* Grows a malloc'ed array to hold at least `count` elements of `size` bytes; 0 when memory is short. */
static int reserve(void **array, size_t *capacity, size_t count, size_t size) {
    if (count <= *capacity) return 1;
    size_t wanted = *capacity ? *capacity : 16;
    while (wanted < count) wanted *= 2;
    void *grown = PyMem_RawRealloc(*array, wanted * size);
    if (grown == NULL) return 0;
    *array = grown;
    *capacity = wanted;
    return 1;
}

/* ---- decoding ------------------------------------------------------------------------------------------- */

typedef struct {
    uint64_t written;
    uint32_t state;
} Open;

typedef struct {
    const Node *nodes;
    uint32_t count;
    Cursor *buffers;
    Py_ssize_t num_buffers, lengths;
    const uint8_t *transitions;
    Py_ssize_t num_transitions, transition;
    uint8_t *out; /* records are written backwards: they end at out + capacity, begin at out + pos */
    uint64_t capacity, pos, decoded_size, num_records;
    uint64_t *ends; /* how much was written when each record's start was reached */
    size_t num_ends, ends_capacity;
    Open *open; /* submessages whose end was reached, not their start */
    size_t num_open, open_capacity;
    uint32_t state;
    int repeats;
    uint64_t need; /* when the output must grow: the bytes the current state writes */
    char error[160];
} Decoder;

enum { DONE, FAILED, GROW };

static int fail(Decoder *d, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(d->error, sizeof d->error, format, args);
    va_end(args);
    return FAILED;
}

/* Reads a varint32 of at most 5 bytes at the cursor without moving it: its value and length, 0 when malformed. */
static int peek_varint32(const Cursor *c, uint32_t *value) {
    uint64_t result = 0;
    for (int i = 0; i < 5 && c->cursor + i < c->size; i++) {
        const uint8_t byte = c->data[c->cursor + i];
        result |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (byte < 0x80) {
            if (result >> 32) return 0;
            *value = (uint32_t)result;
            return i + 1;
        }
    }
    return 0;
}

static int varint_length(uint64_t value) {
    int length = 1;
    while (value >= 0x80) {
        value >>= 7;
        length++;
    }
    return length;
}

static int start_record(Decoder *d) {
    if (d->num_open) return fail(d, "a record starts inside an open submessage");
    if (d->num_ends == d->num_records)
        return fail(d, "more records than the %llu of the chunk header", (unsigned long long)d->num_records);
    if (!reserve((void **)&d->ends, &d->ends_capacity, d->num_ends + 1, sizeof *d->ends))
        return fail(d, "out of memory");
    d->ends[d->num_ends++] = d->capacity - d->pos;
    return DONE;
}

/* Room for `need` more bytes before out + pos: FAILED past the decoded size, GROW when the buffer is full. */
#define ROOM(need_)                                                                                          \
    do {                                                                                                     \
        const uint64_t need__ = (need_);                                                                     \
        if (need__ > d->decoded_size - (d->capacity - d->pos))                                               \
            return fail(d, "the records exceed the %llu bytes of the chunk header",                          \
                        (unsigned long long)d->decoded_size);                                                \
        if (need__ > d->pos) {                                                                               \
            d->need = need__;                                                                                \
            return GROW;                                                                                     \
        }                                                                                                    \
    } while (0)

#define BUFFER_ENDS(index, cursor)                                                                           \
    fail(d, "buffer %lld ends before the value at its byte %lld", (long long)(index), (long long)(cursor))

/* Runs states from d->state until the transitions end (DONE), a check fails (FAILED), or the output must grow
 * (GROW: nothing of the current state was done yet, so the caller grows d->out and calls run again). */
static int run(Decoder *d) {
    const Node *nodes = d->nodes;
    for (;;) {
        const Node *node = &nodes[d->state];
        switch (node->kind) {
        case COPY_TAG:
            ROOM(node->tag_len);
            d->pos -= node->tag_len;
            memcpy(d->out + d->pos, node->tag, node->tag_len);
            break;
        case VARINT:
        case FIXED: {
            Cursor *c = &d->buffers[node->buffer];
            const unsigned size = node->size, tag_len = node->tag_len;
            if (c->size - c->cursor < (Py_ssize_t)size) return BUFFER_ENDS(node->buffer, c->cursor);
            ROOM(tag_len + size);
            d->pos -= tag_len + size;
            uint8_t *dest = d->out + d->pos;
            const uint8_t *src = c->data + c->cursor;
            memcpy(dest, node->tag, tag_len);
            if (node->kind == VARINT) {
                for (unsigned i = 0; i + 1 < size; i++) dest[tag_len + i] = src[i] | 0x80;
                dest[tag_len + size - 1] = src[size - 1];
            } else {
                memcpy(dest + tag_len, src, size);
            }
            c->cursor += size;
            break;
        }
        case STRING: {
            Cursor *c = &d->buffers[node->buffer];
            uint32_t length;
            const int length_size = peek_varint32(c, &length);
            if (!length_size)
                return fail(d, "malformed string length in buffer %d at its byte %lld", node->buffer,
                            (long long)c->cursor);
            const uint64_t size = (uint64_t)length_size + length;
            if ((uint64_t)(c->size - c->cursor) < size) return BUFFER_ENDS(node->buffer, c->cursor);
            ROOM(node->tag_len + size);
            d->pos -= node->tag_len + size;
            memcpy(d->out + d->pos, node->tag, node->tag_len);
            memcpy(d->out + d->pos + node->tag_len, c->data + c->cursor, size);
            c->cursor += size;
            break;
        }
        case SUBMESSAGE_END:
            if (2 * ((uint64_t)d->num_open + 1) > d->decoded_size - (d->capacity - d->pos))
                return fail(d, "more submessages open than the records can hold");
            if (!reserve((void **)&d->open, &d->open_capacity, d->num_open + 1, sizeof *d->open))
                return fail(d, "out of memory");
            d->open[d->num_open].written = d->capacity - d->pos;
            d->open[d->num_open++].state = d->state;
            break;
        case SUBMESSAGE_START: {
            if (!d->num_open) return fail(d, "a submessage starts that never ended");
            const Open *end = &d->open[d->num_open - 1];
            const uint64_t length = d->capacity - d->pos - end->written;
            if (length > UINT32_MAX) return fail(d, "a submessage longer than 4 GiB");
            const Node *end_node = &nodes[end->state];
            const int length_size = varint_length(length);
            ROOM(end_node->tag_len + length_size);
            d->pos -= end_node->tag_len + length_size;
            uint8_t *dest = d->out + d->pos;
            memcpy(dest, end_node->tag, end_node->tag_len);
            dest += end_node->tag_len;
            uint64_t rest = length;
            while (rest >= 0x80) {
                *dest++ = (uint8_t)(rest | 0x80);
                rest >>= 7;
            }
            *dest = (uint8_t)rest;
            d->num_open--;
            break;
        }
        case MESSAGE_START:
            if (start_record(d) == FAILED) return FAILED;
            break;
        case NONPROTO: {
            Cursor *lengths = &d->buffers[d->lengths], *c = &d->buffers[node->buffer];
            uint32_t length;
            const int length_size = peek_varint32(lengths, &length);
            if (!length_size)
                return fail(d, "malformed non-proto record length in buffer %lld at its byte %lld",
                            (long long)d->lengths, (long long)lengths->cursor);
            /* The lengths buffer may be the record's buffer too (a forged chunk): check both after moving. */
            if (c->size - c->cursor - (c == lengths ? length_size : 0) < (Py_ssize_t)length)
                return BUFFER_ENDS(node->buffer, c->cursor + (c == lengths ? length_size : 0));
            ROOM(length);
            lengths->cursor += length_size;
            d->pos -= length;
            memcpy(d->out + d->pos, c->data + c->cursor, length);
            c->cursor += length;
            if (start_record(d) == FAILED) return FAILED;
            break;
        }
        default: /* NOOP */
            break;
        }
        d->state = node->next;
        if (d->repeats) {
            d->repeats -= nodes[d->state].implicit ? 0 : 1;
        } else {
            if (d->transition == d->num_transitions) return DONE;
            const uint8_t byte = d->transitions[d->transition++];
            const uint64_t target = (uint64_t)d->state + (byte >> 2);
            if (target >= d->count)
                return fail(d, "a transition leads to state %llu, past the %u states", (unsigned long long)target,
                            d->count);
            d->state = (uint32_t)target;
            d->repeats = (byte & 3) + nodes[target].implicit;
        }
    }
}

/* The checks after the last transition, as transposed_decoder.run makes them. */
static int finish(Decoder *d) {
    const uint64_t written = d->capacity - d->pos;
    if (d->num_open) return fail(d, "a submessage never starts");
    if (d->num_ends != d->num_records)
        return fail(d, "%llu records, the chunk header says %llu", (unsigned long long)d->num_ends,
                    (unsigned long long)d->num_records);
    if ((d->num_ends ? d->ends[d->num_ends - 1] : 0) != written) return fail(d, "bytes before the first record");
    if (written != d->decoded_size)
        return fail(d, "%llu bytes of records, the chunk header says %llu", (unsigned long long)written,
                    (unsigned long long)d->decoded_size);
    return DONE;
}

/* Moves the output into a buffer of `capacity` bytes (its data at the end, as before); NULL when memory is
 * short. Holds the GIL. */
static PyObject *grow(Decoder *d, PyObject *out, uint64_t capacity) {
    PyObject *grown = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)capacity);
    if (grown == NULL) return NULL;
    const uint64_t written = d->capacity - d->pos;
    uint8_t *data = (uint8_t *)PyBytes_AS_STRING(grown);
    memcpy(data + capacity - written, d->out + d->pos, written);
    Py_DECREF(out);
    d->out = data;
    d->capacity = capacity;
    d->pos = capacity - written;
    return grown;
}

static PyObject *decode(PyObject *self, PyObject *args) {
    Py_buffer states, transitions;
    PyObject *buffer_list;
    long long first, lengths;
    unsigned long long num_records, decoded_size;
    if (!PyArg_ParseTuple(args, "y*LLOy*KK", &states, &first, &lengths, &buffer_list, &transitions, &num_records,
                          &decoded_size))
        return NULL;
    PyObject *result = NULL, *out = NULL, *buffers_seq = NULL;
    Py_buffer *views = NULL;
    Py_ssize_t num_views = 0;
    Decoder d;
    memset(&d, 0, sizeof d);
    buffers_seq = PySequence_Fast(buffer_list, "buffers must be a sequence");
    if (buffers_seq == NULL) goto done;
    const Py_ssize_t num_buffers = PySequence_Fast_GET_SIZE(buffers_seq);
    const Py_ssize_t count = states.len / (Py_ssize_t)sizeof(Node);
    if (states.len % (Py_ssize_t)sizeof(Node) || count == 0 || count > UINT32_MAX || first < 0 || first >= count ||
        lengths < -1 || lengths >= num_buffers) {
        PyErr_SetString(PyExc_ValueError, "inconsistent states");
        goto done;
    }
    d.nodes = (const Node *)states.buf;
    d.count = (uint32_t)count;
    for (Py_ssize_t i = 0; i < count; i++) { /* the Python side checked these: a broken caller must not crash */
        const Node *node = &d.nodes[i];
        const int needs_buffer = node->kind == NONPROTO || node->kind == VARINT || node->kind == FIXED ||
                                 node->kind == STRING;
        if (node->kind > STRING || node->next >= d.count || node->tag_len > 8 ||
            (needs_buffer && (node->buffer < 0 || node->buffer >= num_buffers)) ||
            (node->kind == NONPROTO && lengths < 0) || ((node->kind == VARINT) && (node->size < 1 || node->size > 10))) {
            PyErr_SetString(PyExc_ValueError, "inconsistent states");
            goto done;
        }
    }
    views = PyMem_Calloc(num_buffers ? num_buffers : 1, sizeof *views);
    d.buffers = PyMem_Calloc(num_buffers ? num_buffers : 1, sizeof *d.buffers);
    if (views == NULL || d.buffers == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    uint64_t buffered = 0;
    for (; num_views < num_buffers; num_views++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(buffers_seq, num_views), &views[num_views], PyBUF_SIMPLE) < 0)
            goto done;
        d.buffers[num_views].data = views[num_views].buf;
        d.buffers[num_views].size = views[num_views].len;
        buffered += (uint64_t)views[num_views].len;
    }
    d.num_buffers = num_buffers;
    d.lengths = lengths;
    d.transitions = transitions.buf;
    d.num_transitions = transitions.len;
    d.num_records = num_records;
    d.decoded_size = decoded_size;
    d.state = (uint32_t)first;
    d.repeats = d.nodes[first].implicit;
    /* The whole output at once when the chunk's contents can plausibly make it (the output grows otherwise:
     * memory follows what the chunk really holds, whatever its header says). */
    const uint64_t plausible = 2 * buffered + 64 * ((uint64_t)transitions.len + count) + 65536;
    d.capacity = decoded_size < plausible ? decoded_size : plausible;
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)d.capacity);
    if (out == NULL) goto done;
    d.out = (uint8_t *)PyBytes_AS_STRING(out);
    d.pos = d.capacity;
    int status;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        status = run(&d);
        Py_END_ALLOW_THREADS
        if (status != GROW) break;
        uint64_t capacity = 2 * d.capacity;
        const uint64_t least = d.capacity - d.pos + d.need;
        if (capacity < least) capacity = least;
        if (capacity > d.decoded_size) capacity = d.decoded_size;
        out = grow(&d, out, capacity);
        if (out == NULL) goto done;
    }
    if (status == DONE) status = finish(&d);
    if (status == FAILED) {
        PyErr_SetString(PyExc_ValueError, d.error);
        goto done;
    }
    PyObject *starts = PyList_New((Py_ssize_t)d.num_ends + 1); /* and where the last record ends */
    if (starts == NULL) goto done;
    PyObject *end = PyLong_FromUnsignedLongLong(d.decoded_size);
    if (end == NULL) {
        Py_DECREF(starts);
        goto done;
    }
    PyList_SET_ITEM(starts, (Py_ssize_t)d.num_ends, end);
    for (size_t i = 0; i < d.num_ends; i++) { /* ends[] counts from the end, last record first */
        PyObject *start = PyLong_FromUnsignedLongLong(d.decoded_size - d.ends[d.num_ends - 1 - i]);
        if (start == NULL) {
            Py_DECREF(starts);
            goto done;
        }
        PyList_SET_ITEM(starts, (Py_ssize_t)i, start);
    }
    result = Py_BuildValue("(ON)", out, starts);
done:
    Py_XDECREF(out);
    for (Py_ssize_t i = 0; i < num_views; i++) PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(d.buffers);
    PyMem_RawFree(d.ends);
    PyMem_RawFree(d.open);
    Py_XDECREF(buffers_seq);
    PyBuffer_Release(&states);
    PyBuffer_Release(&transitions);
    return result;
}

/* ---- encoding ------------------------------------------------------------------------------------------- */

#define NON_PROTO_ID 1
#define START_OF_SUBMESSAGE_ID 2
#define START_OF_MESSAGE_ID 3
#define ROOT_ID 4
#define SUBMESSAGE_WIRE_TYPE 6
#define VARINT_INLINE_0 10
#define MAX_INLINE_VARINT 3
#define MAX_RECURSION_DEPTH 100
#define MAX_TRANSITION 63
#define STRING_SUBTYPE 0
#define START_OF_SUBMESSAGE_SUBTYPE 1
#define END_OF_SUBMESSAGE_SUBTYPE 2
#define SUBTYPES 14 /* varint lengths 1..10, inline values 0..3 */
enum { VARINT_BUFFER, FIXED32_BUFFER, FIXED64_BUFFER, STRING_BUFFER, NONPROTO_BUFFER, NONPROTO_LENGTHS_BUFFER };

/* A hash map from 64-bit keys to 32-bit values (open addressing, linear probing; keys are never all ones). */
typedef struct {
    uint64_t *keys;
    uint32_t *values;
    size_t capacity, size;
} Map;

static uint64_t mix(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return key;
}

static int map_grow(Map *map) {
    const size_t capacity = map->capacity ? 2 * map->capacity : 64;
    uint64_t *keys = PyMem_RawMalloc(capacity * sizeof *keys);
    uint32_t *values = PyMem_RawMalloc(capacity * sizeof *values);
    if (keys == NULL || values == NULL) {
        PyMem_RawFree(keys);
        PyMem_RawFree(values);
        return 0;
    }
    memset(keys, 0xff, capacity * sizeof *keys);
    for (size_t i = 0; i < map->capacity; i++) {
        if (map->keys[i] == UINT64_MAX) continue;
        size_t slot = mix(map->keys[i]) & (capacity - 1);
        while (keys[slot] != UINT64_MAX) slot = (slot + 1) & (capacity - 1);
        keys[slot] = map->keys[i];
        values[slot] = map->values[i];
    }
    PyMem_RawFree(map->keys);
    PyMem_RawFree(map->values);
    map->keys = keys;
    map->values = values;
    map->capacity = capacity;
    return 1;
}

/* The value of `key`, inserting `fresh` when absent (*added says which); UINT32_MAX when memory is short. */
static uint32_t map_get(Map *map, uint64_t key, uint32_t fresh, int *added) {
    if (2 * (map->size + 1) > map->capacity && !map_grow(map)) return UINT32_MAX;
    size_t slot = mix(key) & (map->capacity - 1);
    while (map->keys[slot] != UINT64_MAX) {
        if (map->keys[slot] == key) {
            *added = 0;
            return map->values[slot];
        }
        slot = (slot + 1) & (map->capacity - 1);
    }
    map->keys[slot] = key;
    map->values[slot] = fresh;
    map->size++;
    *added = 1;
    return fresh;
}

typedef struct {
    uint32_t parent, tag;
    int32_t kind_of[SUBTYPES];
    uint64_t size; /* of its buffer */
    int32_t buffer;
} FieldPath;

typedef struct {
    const uint8_t *data;
    uint64_t size;
    uint32_t node;
    uint8_t varint; /* a varint value: stored with the high bit of each byte cleared */
} Item;

typedef struct {
    uint32_t node, subtype;
} Kind;

#define NODE_CACHE 256 /* recently used field paths: fields come in much the same order record after record */

typedef struct {
    uint64_t key;
    uint32_t node;
} CachedNode;

typedef struct {
    Map node_ids, kind_follows;
    CachedNode node_cache[NODE_CACHE];
    FieldPath *nodes;
    size_t num_nodes, nodes_capacity;
    Kind *kinds;
    size_t num_kinds, kinds_capacity;
    uint32_t *sequence;
    size_t length, sequence_capacity;
    Item *items;
    size_t num_items, items_capacity;
    uint64_t *nonproto_lengths;
    size_t num_nonproto, nonproto_capacity;
    uint32_t *checked_groups; /* field numbers of the open groups, while checking a message */
    size_t checked_groups_capacity;
    uint32_t *group_parents; /* parents of the open groups, while splitting a message */
    size_t group_parents_capacity;
    struct Submessage {
        uint32_t node, parent;
        size_t end;
    } *submessages;
    size_t submessages_capacity;
    int out_of_memory;
} Encoder;

static uint32_t node_of(Encoder *e, uint32_t parent, uint32_t tag) {
    const uint64_t key = (uint64_t)parent << 32 | tag;
    CachedNode *cached = &e->node_cache[(key * 0x9e3779b97f4a7c15ULL) >> 56];
    if (cached->key == key) return cached->node;
    int added;
    const uint32_t node = map_get(&e->node_ids, key, (uint32_t)e->num_nodes, &added);
    if (node == UINT32_MAX ||
        (added && !reserve((void **)&e->nodes, &e->nodes_capacity, e->num_nodes + 1, sizeof *e->nodes))) {
        e->out_of_memory = 1;
        return 0;
    }
    if (added) {
        FieldPath *path = &e->nodes[e->num_nodes++];
        path->parent = parent;
        path->tag = tag;
        for (int i = 0; i < SUBTYPES; i++) path->kind_of[i] = -1;
        path->size = 0;
        path->buffer = -1;
    }
    cached->key = key;
    cached->node = node;
    return node;
}

static void emit(Encoder *e, uint32_t node, uint32_t subtype) {
    if (e->out_of_memory) return;
    int32_t *kind = &e->nodes[node].kind_of[subtype];
    if (*kind < 0) {
        if (!reserve((void **)&e->kinds, &e->kinds_capacity, e->num_kinds + 1, sizeof *e->kinds)) {
            e->out_of_memory = 1;
            return;
        }
        e->kinds[e->num_kinds].node = node;
        e->kinds[e->num_kinds].subtype = subtype;
        *kind = (int32_t)e->num_kinds++;
    }
    if (!reserve((void **)&e->sequence, &e->sequence_capacity, e->length + 1, sizeof *e->sequence)) {
        e->out_of_memory = 1;
        return;
    }
    e->sequence[e->length++] = (uint32_t)*kind;
}

static void add_item(Encoder *e, uint32_t node, const uint8_t *data, uint64_t size, int varint) {
    if (e->out_of_memory) return;
    if (!reserve((void **)&e->items, &e->items_capacity, e->num_items + 1, sizeof *e->items)) {
        e->out_of_memory = 1;
        return;
    }
    Item *item = &e->items[e->num_items++];
    item->data = data;
    item->size = size;
    item->node = node;
    item->varint = (uint8_t)varint;
    e->nodes[node].size += size;
}

/* A varint at data[index:end] in its shortest form, of at most max_bytes bytes (5: 32 bits, 10: 64 bits);
 * returns the index after it, 0 when there is none. */
static size_t canonical_varint(const uint8_t *data, size_t index, size_t end, int max_bytes, uint64_t *value) {
    uint64_t result = 0;
    for (int i = 0; i < max_bytes && index + i < end; i++) {
        const uint8_t byte = data[index + i];
        result |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (byte < 0x80) {
            if (byte == 0 && i > 0) return 0;
            if (max_bytes == 5 ? (result >> 32) != 0 : (i == 9 && byte > 1)) return 0;
            *value = result;
            return index + i + 1;
        }
    }
    return 0;
}

/* Whether data[index:end] is a protobuf message in canonical encoding with its groups closed. */
static int is_proto_message(Encoder *e, const uint8_t *data, size_t index, size_t end) {
    size_t open = 0;
    while (index < end) {
        uint64_t tag, value;
        index = canonical_varint(data, index, end, 5, &tag);
        if (!index || tag >> 3 == 0) return 0;
        switch (tag & 7) {
        case 0:
            index = canonical_varint(data, index, end, 10, &value);
            if (!index) return 0;
            break;
        case 1:
        case 5:
            index += (tag & 7) == 5 ? 4 : 8;
            if (index > end) return 0;
            break;
        case 2: {
            const size_t after = canonical_varint(data, index, end, 5, &value);
            if (!after || value > end - after) return 0;
            index = after + value;
            break;
        }
        case 3:
            if (!reserve((void **)&e->checked_groups, &e->checked_groups_capacity, open + 1, sizeof(uint32_t))) {
                e->out_of_memory = 1;
                return 0;
            }
            e->checked_groups[open++] = (uint32_t)(tag >> 3);
            break;
        case 4:
            if (!open || e->checked_groups[--open] != (uint32_t)(tag >> 3)) return 0;
            break;
        default:
            return 0;
        }
    }
    return open == 0;
}

/* A varint of a message is_proto_message accepted; returns the index after it. */
static size_t read_varint(const uint8_t *data, size_t index, uint64_t *value) {
    uint64_t result = 0;
    for (int shift = 0;; shift += 7) {
        const uint8_t byte = data[index++];
        result |= (uint64_t)(byte & 0x7f) << shift;
        if (byte < 0x80) break;
    }
    *value = result;
    return index;
}

static uint32_t message_id(uint32_t node) { return ROOT_ID + 1 + node; }

static void add_message(Encoder *e, const uint8_t *data, size_t end) {
    uint32_t parent = ROOT_ID;
    size_t index = 0, open = 0, groups = 0;
    for (;;) {
        while (index < end && !e->out_of_memory) {
            uint64_t tag, length;
            index = read_varint(data, index, &tag);
            const uint32_t node = node_of(e, parent, (uint32_t)tag);
            if (e->out_of_memory) return;
            switch (tag & 7) {
            case 0: {
                const size_t start = index;
                while (data[index] & 0x80) index++;
                index++;
                if (data[start] <= MAX_INLINE_VARINT) {
                    emit(e, node, VARINT_INLINE_0 + data[start]);
                } else {
                    emit(e, node, (uint32_t)(index - start - 1));
                    add_item(e, node, data + start, index - start, 1);
                }
                break;
            }
            case 1:
            case 5: {
                const size_t size = (tag & 7) == 5 ? 4 : 8;
                emit(e, node, 0);
                add_item(e, node, data + index, size, 0);
                index += size;
                break;
            }
            case 2: {
                const size_t value = read_varint(data, index, &length);
                if (length && open + groups < MAX_RECURSION_DEPTH && is_proto_message(e, data, value, value + length)) {
                    emit(e, node, START_OF_SUBMESSAGE_SUBTYPE);
                    if (!reserve((void **)&e->submessages, &e->submessages_capacity, open + 1,
                                 sizeof *e->submessages)) {
                        e->out_of_memory = 1;
                        return;
                    }
                    e->submessages[open].node = node;
                    e->submessages[open].parent = parent;
                    e->submessages[open++].end = end;
                    parent = message_id(node);
                    index = value;
                    end = value + length;
                    continue;
                }
                emit(e, node, STRING_SUBTYPE);
                add_item(e, node, data + index, value + length - index, 0);
                index = value + length;
                break;
            }
            case 3:
                emit(e, node, 0);
                if (!reserve((void **)&e->group_parents, &e->group_parents_capacity, groups + 1, sizeof(uint32_t))) {
                    e->out_of_memory = 1;
                    return;
                }
                e->group_parents[groups++] = parent;
                parent = message_id(node);
                break;
            default: /* the end of a group */
                parent = e->group_parents[--groups];
                emit(e, node, 0);
                break;
            }
        }
        if (!open || e->out_of_memory) return;
        open--;
        parent = e->submessages[open].parent;
        end = e->submessages[open].end;
        emit(e, e->submessages[open].node, END_OF_SUBMESSAGE_SUBTYPE);
    }
}

static void add_record(Encoder *e, const uint8_t *data, size_t size) {
    if (is_proto_message(e, data, 0, size)) {
        emit(e, node_of(e, START_OF_MESSAGE_ID, 0), 0);
        add_message(e, data, size);
        return;
    }
    const uint32_t node = node_of(e, NON_PROTO_ID, 0);
    emit(e, node, 0);
    add_item(e, node, data, size, 0);
    if (e->out_of_memory ||
        !reserve((void **)&e->nonproto_lengths, &e->nonproto_capacity, e->num_nonproto + 1, sizeof(uint64_t))) {
        e->out_of_memory = 1;
        return;
    }
    e->nonproto_lengths[e->num_nonproto++] = size;
}

/* ---- buffers, states and transitions ----------------------------------------------------------------------- */

typedef struct {
    uint8_t *data;
    size_t size, capacity;
    int out_of_memory;
} Bytes;

static void put_byte(Bytes *b, uint8_t byte) {
    if (!reserve((void **)&b->data, &b->capacity, b->size + 1, 1)) {
        b->out_of_memory = 1;
        return;
    }
    b->data[b->size++] = byte;
}

static void put_varint(Bytes *b, uint64_t value) {
    while (value >= 0x80) {
        put_byte(b, (uint8_t)(value | 0x80));
        value >>= 7;
    }
    put_byte(b, (uint8_t)value);
}

static int buffer_type(const FieldPath *path) {
    if (path->parent == NON_PROTO_ID) return NONPROTO_BUFFER;
    switch (path->tag & 7) {
    case 0:
        return VARINT_BUFFER;
    case 5:
        return FIXED32_BUFFER;
    case 1:
        return FIXED64_BUFFER;
    default:
        return STRING_BUFFER;
    }
}

static const FieldPath *sorted_paths; /* for compare_buffers: qsort passes no context (the GIL is held) */

static int compare_buffers(const void *a, const void *b) {
    const FieldPath *x = &sorted_paths[*(const uint32_t *)a], *y = &sorted_paths[*(const uint32_t *)b];
    const int tx = buffer_type(x), ty = buffer_type(y);
    if (tx != ty) return tx < ty ? -1 : 1;
    if (x->size != y->size) return x->size < y->size ? -1 : 1;
    if (x->parent != y->parent) return x->parent < y->parent ? -1 : 1;
    return x->tag < y->tag ? -1 : x->tag > y->tag;
}

/* Each field path's buffer (its items, last record first) ordered by type, size and path, then the lengths of
 * the non-proto records: a list of (type, bytes); each path's buffer index is set. */
static PyObject *build_buffers(Encoder *e) {
    uint32_t *order = PyMem_RawMalloc((e->num_nodes ? e->num_nodes : 1) * sizeof *order);
    uint8_t **fill = PyMem_RawCalloc(e->num_nodes ? e->num_nodes : 1, sizeof *fill);
    PyObject *list = PyList_New(0);
    if (order == NULL || fill == NULL || list == NULL) {
        PyErr_NoMemory();
        goto failed;
    }
    size_t count = 0;
    for (uint32_t node = 0; node < e->num_nodes; node++)
        if (e->nodes[node].size) order[count++] = node;
    sorted_paths = e->nodes;
    qsort(order, count, sizeof *order, compare_buffers);
    for (size_t i = 0; i < count; i++) {
        FieldPath *path = &e->nodes[order[i]];
        PyObject *contents = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)path->size);
        PyObject *entry = contents ? Py_BuildValue("(iN)", buffer_type(path), contents) : NULL;
        if (entry == NULL || PyList_Append(list, entry) < 0) {
            Py_XDECREF(entry);
            goto failed;
        }
        Py_DECREF(entry);
        fill[order[i]] = (uint8_t *)PyBytes_AS_STRING(contents);
        path->buffer = (int32_t)i;
    }
    for (size_t i = e->num_items; i-- > 0;) {
        const Item *item = &e->items[i];
        uint8_t *dest = fill[item->node];
        if (item->varint) {
            for (uint64_t j = 0; j < item->size; j++) dest[j] = item->data[j] & 0x7f;
        } else {
            memcpy(dest, item->data, item->size);
        }
        fill[item->node] = dest + item->size;
    }
    if (e->num_nonproto) {
        Bytes lengths = {0};
        for (size_t i = e->num_nonproto; i-- > 0;) put_varint(&lengths, e->nonproto_lengths[i]);
        PyObject *entry = lengths.out_of_memory ? PyErr_NoMemory()
                                                : Py_BuildValue("(iy#)", NONPROTO_LENGTHS_BUFFER, lengths.data,
                                                                (Py_ssize_t)lengths.size);
        PyMem_RawFree(lengths.data);
        if (entry == NULL || PyList_Append(list, entry) < 0) {
            Py_XDECREF(entry);
            goto failed;
        }
        Py_DECREF(entry);
    }
    PyMem_RawFree(order);
    PyMem_RawFree(fill);
    return list;
failed:
    PyMem_RawFree(order);
    PyMem_RawFree(fill);
    Py_XDECREF(list);
    return NULL;
}

typedef struct {
    uint64_t count;
    uint32_t target, entry;
} Follower;

static int compare_followers(const void *a, const void *b) {
    const Follower *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->target < y->target ? -1 : x->target > y->target;
}

/* The number standing for a field kind in the header (see transposed_encoder._state_tag). */
static uint32_t state_tag(const Encoder *e, uint32_t kind) {
    const Kind *k = &e->kinds[kind];
    const FieldPath *path = &e->nodes[k->node];
    if (path->parent == NON_PROTO_ID || path->parent == START_OF_MESSAGE_ID) return path->parent;
    if ((path->tag & 7) == 2 && k->subtype == START_OF_SUBMESSAGE_SUBTYPE) return START_OF_SUBMESSAGE_ID;
    if ((path->tag & 7) == 2 && k->subtype == END_OF_SUBMESSAGE_SUBTYPE) return path->tag - 2 + SUBMESSAGE_WIRE_TYPE;
    return path->tag;
}

static int has_data_buffer(uint32_t tag, uint32_t subtype) {
    switch (tag & 7) {
    case 0:
        return subtype < VARINT_INLINE_0;
    case 2:
        return subtype == STRING_SUBTYPE;
    case 1:
    case 5:
        return 1;
    default:
        return 0;
    }
}

/* The states part of the header and the transitions (see transposed_encoder._states); 0 when memory is short. */
static int build_states(Encoder *e, Bytes *states, Bytes *transitions) {
    const size_t kinds = e->num_kinds, length = e->length;
    if (!length) {
        put_varint(states, 1);
        put_varint(states, 0);
        put_varint(states, 0);
        put_varint(states, 0);
        return !states->out_of_memory;
    }
    int ok = 0;
    uint32_t *cached_target = PyMem_RawMalloc(kinds * sizeof(uint32_t));
    uint32_t *cached_entry = PyMem_RawMalloc(kinds * sizeof(uint32_t));
    uint32_t *num_following = PyMem_RawCalloc(kinds, sizeof(uint32_t));
    uint32_t *list_of = PyMem_RawCalloc(kinds, sizeof(uint32_t));
    uint32_t *group_start = PyMem_RawCalloc(kinds + 1, sizeof(uint32_t));
    Follower *followers = NULL, *grouped = NULL;
    uint32_t *hop_block = NULL, *hop_offset = NULL;
    int64_t *state_kind = NULL;
    uint32_t *state_next = NULL;
    size_t num_entries = 0, entries_capacity = 0, num_states = 0, states_capacity = 0, next_capacity = 0;
    if (!cached_target || !cached_entry || !num_following || !list_of || !group_start) goto done;
    memset(cached_target, 0xff, kinds * sizeof(uint32_t));
    /* How often each kind follows each kind, walking backwards. */
    for (size_t i = length - 1; i > 0; i--) {
        const uint32_t kind = e->sequence[i], target = e->sequence[i - 1];
        uint32_t entry;
        if (cached_target[kind] == target) {
            entry = cached_entry[kind];
        } else {
            int added;
            entry = map_get(&e->kind_follows, (uint64_t)kind << 32 | target, (uint32_t)num_entries, &added);
            if (entry == UINT32_MAX) goto done;
            if (added) {
                if (!reserve((void **)&followers, &entries_capacity, num_entries + 1, sizeof *followers)) goto done;
                followers[num_entries].count = 0;
                followers[num_entries].target = target;
                followers[num_entries].entry = kind; /* the source kind, until grouped */
                num_entries++;
                num_following[kind]++;
            }
            cached_target[kind] = target;
            cached_entry[kind] = entry;
        }
        followers[entry].count++;
    }
    /* Followers grouped by kind, most frequent first. */
    grouped = PyMem_RawMalloc((num_entries ? num_entries : 1) * sizeof *grouped);
    hop_block = PyMem_RawMalloc((num_entries ? num_entries : 1) * sizeof(uint32_t));
    hop_offset = PyMem_RawMalloc((num_entries ? num_entries : 1) * sizeof(uint32_t));
    if (!grouped || !hop_block || !hop_offset) goto done;
    for (size_t kind = 0; kind < kinds; kind++) group_start[kind + 1] = group_start[kind] + num_following[kind];
    {
        uint32_t *slot = cached_entry; /* reused: the next free slot of each group */
        for (size_t kind = 0; kind < kinds; kind++) slot[kind] = group_start[kind];
        for (size_t i = 0; i < num_entries; i++) {
            Follower f = followers[i];
            const uint32_t source = f.entry;
            f.entry = (uint32_t)i;
            grouped[slot[source]++] = f;
        }
    }
    const uint32_t last = e->sequence[0];
    for (size_t kind = 0; kind < kinds; kind++) {
        const uint32_t count = num_following[kind];
        if (!count) continue;
        Follower *group = grouped + group_start[kind];
        qsort(group, count, sizeof *group, compare_followers);
        list_of[kind] = (uint32_t)num_states;
        for (uint32_t rank = 0; rank < count; rank++) {
            uint32_t block = rank / MAX_TRANSITION, offset = rank % MAX_TRANSITION;
            if (count <= MAX_TRANSITION + 1) {
                block = 0;
                offset = rank;
            } else if (offset == 0 && block) { /* a no-op at offset 63 of the previous block, to the next one */
                if (!reserve((void **)&state_kind, &states_capacity, num_states + 1, sizeof *state_kind) ||
                    !reserve((void **)&state_next, &next_capacity, num_states + 1, sizeof *state_next))
                    goto done;
                state_kind[num_states] = -1;
                state_next[num_states] = (uint32_t)num_states + 1;
                num_states++;
            }
            hop_block[group[rank].entry] = block;
            hop_offset[group[rank].entry] = offset;
            if (!reserve((void **)&state_kind, &states_capacity, num_states + 1, sizeof *state_kind) ||
                !reserve((void **)&state_next, &next_capacity, num_states + 1, sizeof *state_next))
                goto done;
            state_kind[num_states] = group[rank].target;
            state_next[num_states] = 0;
            num_states++;
        }
    }
    const uint32_t first_kind = e->sequence[length - 1];
    size_t first = 0;
    while (first < num_states && state_kind[first] != (int64_t)first_kind) first++;
    if (first == num_states) { /* the walk's first kind never follows another: a state of its own */
        if (!reserve((void **)&state_kind, &states_capacity, num_states + 1, sizeof *state_kind) ||
            !reserve((void **)&state_next, &next_capacity, num_states + 1, sizeof *state_next))
            goto done;
        state_kind[num_states] = first_kind;
        state_next[num_states] = 0;
        num_states++;
    }
#define IMPLICIT(kind) (num_following[kind] == 1 && (kind) != last)
    Bytes nexts = {0}, subtypes = {0}, buffers = {0};
    put_varint(states, num_states);
    for (size_t state = 0; state < num_states; state++) {
        if (state_kind[state] < 0) {
            put_varint(states, 0);
            put_varint(&nexts, state_next[state]);
            continue;
        }
        const uint32_t kind = (uint32_t)state_kind[state];
        const uint32_t tag = state_tag(e, kind), subtype = e->kinds[kind].subtype;
        put_varint(states, tag);
        put_varint(&nexts, list_of[kind] + (IMPLICIT(kind) ? num_states : 0));
        if (tag >= 8 && (tag & 7) == 0) put_byte(&subtypes, (uint8_t)subtype);
        if (tag == NON_PROTO_ID || (tag >= 8 && has_data_buffer(tag, subtype)))
            put_varint(&buffers, (uint64_t)e->nodes[e->kinds[kind].node].buffer);
    }
    for (size_t i = 0; i < nexts.size; i++) put_byte(states, nexts.data[i]);
    for (size_t i = 0; i < subtypes.size; i++) put_byte(states, subtypes.data[i]);
    for (size_t i = 0; i < buffers.size; i++) put_byte(states, buffers.data[i]);
    put_varint(states, first);
    const int parts_ok = !nexts.out_of_memory && !subtypes.out_of_memory && !buffers.out_of_memory;
    PyMem_RawFree(nexts.data);
    PyMem_RawFree(subtypes.data);
    PyMem_RawFree(buffers.data);
    if (!parts_ok) goto done;
    /* Transitions: offsets from each kind's list, zero offsets folded into the previous byte's repeat count. */
    memset(cached_target, 0xff, kinds * sizeof(uint32_t));
    int pending = -1;
    for (size_t i = length - 1; i > 0; i--) {
        const uint32_t kind = e->sequence[i], target = e->sequence[i - 1];
        if (IMPLICIT(kind)) continue;
        uint32_t entry;
        if (cached_target[kind] == target) {
            entry = cached_entry[kind];
        } else {
            int added;
            entry = map_get(&e->kind_follows, (uint64_t)kind << 32 | target, 0, &added);
            cached_target[kind] = target;
            cached_entry[kind] = entry;
        }
        const uint32_t hops = hop_block[entry];
        for (uint32_t hop = 0; hop <= hops; hop++) {
            const uint32_t offset = hop < hops ? MAX_TRANSITION : hop_offset[entry];
            if (offset == 0 && pending >= 0 && (pending & 3) < 3) {
                pending++;
            } else {
                if (pending >= 0) put_byte(transitions, (uint8_t)pending);
                pending = (int)(offset << 2);
            }
        }
    }
    if (pending >= 0) put_byte(transitions, (uint8_t)pending);
#undef IMPLICIT
    ok = !states->out_of_memory && !transitions->out_of_memory;
done:
    PyMem_RawFree(cached_target);
    PyMem_RawFree(cached_entry);
    PyMem_RawFree(num_following);
    PyMem_RawFree(list_of);
    PyMem_RawFree(group_start);
    PyMem_RawFree(followers);
    PyMem_RawFree(grouped);
    PyMem_RawFree(hop_block);
    PyMem_RawFree(hop_offset);
    PyMem_RawFree(state_kind);
    PyMem_RawFree(state_next);
    return ok;
}

/* The arrays of the last encode, reused by the next: chunk after chunk, first touches of fresh memory cost more
 * than the work. encode holds the GIL throughout, so one set serves every caller. */
static Encoder spare;
#define SPARE_LIMIT ((size_t)64 << 20) /* bytes of arrays kept between calls at most */

static void map_clear(Map *map) {
    if (map->keys != NULL) memset(map->keys, 0xff, map->capacity * sizeof *map->keys);
    map->size = 0;
}

static void encoder_free(Encoder *e) {
    PyMem_RawFree(e->node_ids.keys);
    PyMem_RawFree(e->node_ids.values);
    PyMem_RawFree(e->kind_follows.keys);
    PyMem_RawFree(e->kind_follows.values);
    PyMem_RawFree(e->nodes);
    PyMem_RawFree(e->kinds);
    PyMem_RawFree(e->sequence);
    PyMem_RawFree(e->items);
    PyMem_RawFree(e->nonproto_lengths);
    PyMem_RawFree(e->checked_groups);
    PyMem_RawFree(e->group_parents);
    PyMem_RawFree(e->submessages);
    memset(e, 0, sizeof *e);
}

/* An empty encoder holding the spare arrays. */
static void encoder_start(Encoder *e) {
    *e = spare;
    memset(&spare, 0, sizeof spare);
    e->num_nodes = e->num_kinds = e->length = e->num_items = e->num_nonproto = 0;
    e->out_of_memory = 0;
    memset(e->node_cache, 0xff, sizeof e->node_cache);
    map_clear(&e->node_ids);
    map_clear(&e->kind_follows);
}

/* Keeps the encoder's arrays for the next call, unless they are large. */
static void encoder_finish(Encoder *e) {
    const size_t held = (e->node_ids.capacity + e->kind_follows.capacity) * 12 + e->nodes_capacity * sizeof(FieldPath) +
                        e->kinds_capacity * sizeof(Kind) + e->sequence_capacity * 4 + e->items_capacity * sizeof(Item) +
                        e->nonproto_capacity * 8;
    /* Arrays already spare: another call ran meanwhile (a buffer provider let another thread in). */
    const int taken = spare.nodes || spare.kinds || spare.sequence || spare.items || spare.node_ids.keys;
    if (held > SPARE_LIMIT || e->out_of_memory || taken) {
        encoder_free(e);
        return;
    }
    spare = *e;
}

static PyObject *encode(PyObject *self, PyObject *records) {
    PyObject *seq = PySequence_Fast(records, "records must be a sequence"), *result = NULL, *buffers = NULL;
    if (seq == NULL) return NULL;
    const Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    Py_buffer *views = PyMem_Calloc(count ? count : 1, sizeof *views);
    Py_ssize_t num_views = 0;
    Encoder e;
    encoder_start(&e);
    Bytes states = {0}, transitions = {0};
    if (views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; num_views < count; num_views++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, num_views), &views[num_views], PyBUF_SIMPLE) < 0)
            goto done;
        add_record(&e, views[num_views].buf, (size_t)views[num_views].len);
        if (e.out_of_memory) {
            num_views++;
            PyErr_NoMemory();
            goto done;
        }
    }
    buffers = build_buffers(&e);
    if (buffers == NULL) goto done;
    if (!build_states(&e, &states, &transitions)) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(Oy#y#)", buffers, states.data ? (const char *)states.data : "", (Py_ssize_t)states.size,
                           transitions.data ? (const char *)transitions.data : "", (Py_ssize_t)transitions.size);
done:
    Py_XDECREF(buffers);
    for (Py_ssize_t i = 0; i < num_views; i++) PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    encoder_finish(&e);
    PyMem_RawFree(states.data);
    PyMem_RawFree(transitions.data);
    Py_DECREF(seq);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS,
     "decode(states, first, nonproto_lengths, buffers, transitions, num_records, decoded_size) -> (bytes, starts): "
     "runs a transposed chunk's state machine; ValueError when the chunk is damaged."},
    {"encode", encode, METH_O,
     "encode(records) -> ([(type, bytes)], states, transitions): the parts of a transposed chunk."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_transposed", "The state machine of transposed Riegeli chunks.", -1, methods,
};

PyMODINIT_FUNC PyInit__transposed(void) { return PyModule_Create(&module); }
