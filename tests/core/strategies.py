"""Hypothesis strategies for random `Everything` (proto2) and `Graph` (proto3) messages, and random field
paths drawn from a generated message (for read_partial / project).

Generation is kept fast: big bytes/strings are built by repeating a short random seed, long repeated fields
by repeating a few random elements, and recursion is bounded by a per-message node budget.
"""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from hypothesis import strategies as st

from proto_splitter import descriptors, wire
from proto_splitter.testing import test_message3_pb2 as t3
from proto_splitter.testing import test_message_pb2 as t
from proto_splitter.testing import test_required_pb2 as tr

_T = FieldDescriptor

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UINT32_MAX, UINT64_MAX = (1 << 32) - 1, (1 << 64) - 1


def _ints(low: int, high: int) -> st.SearchStrategy[int]:
    """Integers in [low, high] with the type's extremes (and 0, +-1) drawn often."""
    extremes = sorted({low, high, 0, 1, low + 1, high - 1} | ({-1} if low < 0 else set()))
    return st.one_of(st.sampled_from(extremes), st.integers(low, high))


int32s = _ints(INT32_MIN, INT32_MAX)
int64s = _ints(INT64_MIN, INT64_MAX)
uint32s = _ints(0, UINT32_MAX)
uint64s = _ints(0, UINT64_MAX)
# NaN is never equal to itself: excluded so that messages compare with ==. Infinities, -0.0 and subnormals stay.
doubles = st.floats(allow_nan=False)
floats32 = st.floats(width=32, allow_nan=False)
bools = st.booleans()
colors = st.sampled_from([t.COLOR_UNSPECIFIED, t.RED, t.GREEN])

_NON_ASCII = ["é", "ß", "日本語", "🙂", "Ω≈ç√", "\u0000", "ä\u0301", "𝔘𝔫𝔦"]
_chars = st.characters(blacklist_categories=("Cs",))  # no lone surrogates: not valid UTF-8
short_texts = st.one_of(st.text(_chars, max_size=12), st.sampled_from([*_NON_ASCII, "", "value", "a.b[0]"]))


def _repeat(seed, size: int):
    return (seed * (size // len(seed) + 1))[:size]


def big_bytes(max_size: int = 4000) -> st.SearchStrategy[bytes]:
    """Empty, short random, or large (a random seed repeated up to max_size bytes) byte strings."""
    return st.one_of(
        st.just(b""),
        st.binary(max_size=24),
        st.builds(_repeat, st.binary(min_size=1, max_size=16), st.integers(0, max_size)),
    )


def big_texts(max_chars: int = 1500) -> st.SearchStrategy[str]:
    """Empty, short, or large strings (some non-ASCII: up to a few KB of UTF-8)."""
    seeds = st.one_of(st.text(_chars, min_size=1, max_size=8), st.sampled_from([*_NON_ASCII[:5], "abc"]))
    return st.one_of(short_texts, st.builds(_repeat, seeds, st.integers(0, max_chars)))


def long_lists(elements: st.SearchStrategy, short: int = 6, long: int = 600) -> st.SearchStrategy[list]:
    """Short random lists, or long ones made by repeating a few random elements."""
    return st.one_of(
        st.lists(elements, max_size=short),
        st.builds(
            lambda items, n: (items * (n // len(items) + 1))[:n],
            st.lists(elements, min_size=1, max_size=4),
            st.integers(0, long),
        ),
    )


# ---- unknown fields ----------------------------------------------------------------------------------


def _free_numbers(descriptor, count: int = 8) -> list[int]:
    """Field numbers that are neither fields nor inside extension ranges of `descriptor`."""
    taken = set(descriptor.fields_by_number)
    candidates = [15, 16, 20, 63, 64, 99, 300, 999, 2047, 2048, 5000, 99999, (1 << 29) - 1]
    free = [
        n
        for n in candidates
        if n not in taken
        and not any(low <= n < high for low, high in descriptor.extension_ranges)
        and not 19000 <= n <= 19999
    ]
    return free[:count]


@st.composite
def unknown_field_bytes(draw, descriptor, max_occurrences: int = 3, max_payload: int = 20) -> bytes:
    """A few serialized occurrences of field numbers `descriptor` does not know (every wire type)."""
    out = b""
    for _ in range(draw(st.integers(1, max_occurrences))):
        number = draw(st.sampled_from(_free_numbers(descriptor)))
        kind = draw(st.sampled_from(["varint", "fixed32", "fixed64", "len", "group"]))
        if kind == "varint":
            out += wire.encode_tag(number, wire.VARINT) + wire.encode_varint(draw(uint64s))
        elif kind == "fixed32":
            out += wire.encode_tag(number, wire.FIXED32) + draw(st.binary(min_size=4, max_size=4))
        elif kind == "fixed64":
            out += wire.encode_tag(number, wire.FIXED64) + draw(st.binary(min_size=8, max_size=8))
        elif kind == "len":
            payload = draw(big_bytes(max_payload))
            out += wire.length_delimited(number, len(payload)) + payload
        else:
            inner = wire.encode_tag(1, wire.VARINT) + wire.encode_varint(draw(st.integers(0, 1 << 40)))
            out += wire.encode_tag(number, wire.START_GROUP) + inner + wire.encode_tag(number, wire.END_GROUP)
    return out


def _maybe_unknown(draw, message) -> None:
    if draw(st.integers(0, 9)) == 0:
        message.MergeFromString(draw(unknown_field_bytes(message.DESCRIPTOR)))


# ---- proto2: Everything -------------------------------------------------------------------------------

SCALAR_FIELDS = {
    "f_double": doubles,
    "f_float": floats32,
    "f_int32": int32s,
    "f_int64": int64s,
    "f_uint32": uint32s,
    "f_uint64": uint64s,
    "f_sint32": int32s,
    "f_sint64": int64s,
    "f_fixed32": uint32s,
    "f_fixed64": uint64s,
    "f_sfixed32": int32s,
    "f_sfixed64": int64s,
    "f_bool": bools,
    "f_string": big_texts(),
    "f_bytes": big_bytes(),
    "f_enum": colors,
}


@st.composite
def scalars_messages(draw) -> t.Scalars:
    message = t.Scalars(**draw(st.fixed_dictionaries({}, optional=SCALAR_FIELDS)))
    _maybe_unknown(draw, message)
    return message


REPEATED_ELEMENTS = {
    "r_double": doubles,
    "r_float": floats32,
    "r_int32": int32s,
    "r_int64": int64s,
    "r_uint32": uint32s,
    "r_uint64": uint64s,
    "r_sint32": int32s,
    "r_sint64": int64s,
    "r_fixed32": uint32s,
    "r_fixed64": uint64s,
    "r_sfixed32": int32s,
    "r_sfixed64": int64s,
    "r_bool": bools,
    "r_string": short_texts,
    "r_bytes": st.binary(max_size=40),
    "r_enum": colors,
}


@st.composite
def repeateds_messages(draw) -> t.Repeateds:
    message = t.Repeateds()
    chosen = draw(st.lists(st.sampled_from(sorted(REPEATED_ELEMENTS)), unique=True, max_size=6))
    for name in chosen:
        getattr(message, name).extend(draw(long_lists(REPEATED_ELEMENTS[name])))
    if draw(bools):
        for scalars in draw(st.lists(scalars_messages(), max_size=3)):
            message.r_message.append(scalars)
    if draw(bools):  # a couple of big strings/bytes in a long list
        message.r_bytes.extend(draw(st.lists(big_bytes(2500), max_size=3)))
        message.r_string.extend(draw(st.lists(big_texts(800), max_size=2)))
    return message


MAP_KEYS = {
    "bool_to_node": bools,
    "int32_to_node": int32s,
    "int64_to_node": int64s,
    "uint32_to_node": uint32s,
    "uint64_to_node": uint64s,
    "sint32_to_node": int32s,
    "sint64_to_node": int64s,
    "fixed32_to_node": uint32s,
    "fixed64_to_node": uint64s,
    "sfixed32_to_node": int32s,
    "sfixed64_to_node": int64s,
    "string_to_node": st.one_of(short_texts, st.builds(_repeat, st.just("k"), st.integers(100, 600))),
}


class _Budget:
    """How many more nodes one generated message may hold (keeps recursive generation fast)."""

    def __init__(self, nodes: int, max_depth: int):
        self.nodes, self.max_depth = nodes, max_depth

    def take(self) -> bool:
        if self.nodes <= 0:
            return False
        self.nodes -= 1
        return True


@st.composite
def nodes(draw, budget: _Budget, depth: int = 0) -> t.Node:
    """A recursive Node: payloads, children, child, named map, oneof choice, extensions, unknown fields."""
    node = t.Node()
    if draw(bools):
        node.name = draw(short_texts)
    if draw(bools):
        node.payload = draw(big_bytes())
    if draw(st.integers(0, 3)) == 0:
        node.values.extend(draw(long_lists(floats32, long=800)))
    deeper = depth < budget.max_depth
    choice = draw(st.sampled_from(["none", "text", "blob", "number"] + (["sub"] if deeper else [])))
    if choice == "text":
        node.text = draw(big_texts())
    elif choice == "blob":
        node.blob = draw(big_bytes())
    elif choice == "number":
        node.number = draw(int64s)
    elif choice == "sub" and budget.take():
        node.sub.CopyFrom(draw(nodes(budget, depth + 1)))
    if draw(st.integers(0, 3)) == 0:
        node.Extensions[t.ext_payload] = draw(big_bytes())
    if deeper:
        for _ in range(draw(st.integers(0, 3))):
            if budget.take():
                node.children.append(draw(nodes(budget, depth + 1)))
        if draw(bools) and budget.take():
            node.child.CopyFrom(draw(nodes(budget, depth + 1)))
        for key in draw(st.lists(short_texts, max_size=2, unique=True)):
            if budget.take():
                node.named[key].CopyFrom(draw(nodes(budget, depth + 1)))
        if draw(st.integers(0, 3)) == 0 and budget.take():
            node.Extensions[t.ext_nodes].append(draw(nodes(budget, depth + 1)))
    _maybe_unknown(draw, node)
    return node


@st.composite
def maps_messages(draw, budget: _Budget, depth: int) -> t.Maps:
    message = t.Maps()
    for key, value in draw(st.dictionaries(short_texts, big_bytes(2000), max_size=3)).items():
        message.string_to_bytes[key] = value
    for name in draw(st.lists(st.sampled_from(sorted(MAP_KEYS)), unique=True, max_size=4)):
        for key in draw(st.lists(MAP_KEYS[name], max_size=3, unique=True)):
            if budget.take():
                getattr(message, name)[key].CopyFrom(draw(nodes(budget, depth + 1)))
    for key, value in draw(st.dictionaries(int64s, big_texts(600), max_size=3)).items():
        message.int64_to_string[key] = value
    if draw(st.integers(0, 3)) == 0:  # a scalar map with many entries (fragments)
        keys = draw(st.lists(uint32s, min_size=1, max_size=4))
        count = draw(st.integers(1, 300))
        value = draw(doubles)
        for i in range(count):
            message.uint32_to_double[(keys[i % len(keys)] + i) % (UINT32_MAX + 1)] = value
    for key, value in draw(st.dictionaries(short_texts, colors, max_size=3)).items():
        message.string_to_enum[key] = value
    return message


@st.composite
def everything_messages(draw, max_nodes: int = 24) -> t.Everything:
    """A random Everything exercising every feature of the proto2 schema (depth up to ~6)."""
    budget = _Budget(max_nodes, draw(st.integers(0, 5)))
    message = t.Everything()
    if draw(bools):
        message.scalars.CopyFrom(draw(scalars_messages()))
    if draw(bools):
        message.repeateds.CopyFrom(draw(repeateds_messages()))
    if draw(bools):
        message.maps.CopyFrom(draw(maps_messages(budget, 0)))
    if draw(bools) and budget.take():
        message.root.CopyFrom(draw(nodes(budget, 0)))
    for _ in range(draw(st.integers(0, 4))):
        if budget.take():
            message.nodes.append(draw(nodes(budget, 0)))
    if draw(st.integers(0, 4)) == 0:  # many small nodes: a long repeated message field
        count = draw(st.integers(10, 120))
        payload = draw(st.binary(max_size=30))
        for i in range(count):
            message.nodes.add(name=f"n{i}", payload=payload)
    for _ in range(draw(st.integers(0, 3))):
        item = message.item.add()
        if draw(bools):
            item.id = draw(int32s)
        if draw(bools):
            item.data = draw(big_bytes())
    if draw(bools):
        message.single.label = draw(big_texts(300))
    pick = draw(st.sampled_from(["none", "node", "bytes", "string"]))
    if pick == "node" and budget.take():
        message.picked_node.CopyFrom(draw(nodes(budget, 0)))
    elif pick == "bytes":
        message.picked_bytes = draw(big_bytes())
    elif pick == "string":
        message.picked_string = draw(big_texts())
    if draw(st.integers(0, 2)) == 0 and budget.take():
        message.Extensions[t.ext_node].CopyFrom(draw(nodes(budget, 0)))
    if draw(st.integers(0, 2)) == 0:
        message.Extensions[t.ext_blobs].extend(draw(st.lists(big_bytes(3000), max_size=4)))
    if draw(st.integers(0, 2)) == 0:
        message.Extensions[t.ext_number] = draw(int64s)
    _maybe_unknown(draw, message)
    return message


def deep_chain(depth: int = 200, payload_size: int = 40, leaf_extras: bool = True) -> t.Everything:
    """An Everything whose root starts a chain of `depth` nodes linked by `child`, each with a payload."""
    message = t.Everything()
    node = message.root
    for level in range(depth):
        node.name = f"level{level}"
        node.payload = bytes([level % 251]) * payload_size
        if leaf_extras and level % 50 == 0:
            node.children.add(name=f"side{level}", payload=b"s" * (3 * payload_size))
            node.named[f"k{level}"].blob = b"b" * payload_size
        node = node.child
    node.name = "leaf"
    return message


# ---- proto3: Graph ------------------------------------------------------------------------------------


@st.composite
def tensors(draw) -> t3.Tensor:
    tensor = t3.Tensor(dtype=draw(st.sampled_from(["", "DT_FLOAT", "DT_STRING", "DT_INT64"])))
    tensor.shape.extend(draw(st.lists(int64s, max_size=4)))
    tensor.content = draw(big_bytes(5000))
    if draw(st.integers(0, 2)) == 0:
        tensor.float_val.extend(draw(long_lists(floats32, long=1000)))
    if draw(st.integers(0, 3)) == 0:
        tensor.string_val.extend(draw(st.lists(big_texts(300), max_size=4)))
    return tensor


@st.composite
def attrs(draw) -> t3.Attr:
    kind = draw(st.sampled_from(["none", "tensor", "s", "i", "raw"]))
    attr = t3.Attr()
    if kind == "tensor":
        attr.tensor.CopyFrom(draw(tensors()))
    elif kind == "s":
        attr.s = draw(big_texts(500))
    elif kind == "i":
        attr.i = draw(int64s)
    elif kind == "raw":
        attr.raw = draw(big_bytes())
    return attr


@st.composite
def ops(draw, big: bool = True) -> t3.Op:
    op = t3.Op(name=draw(short_texts), op=draw(st.sampled_from(["Const", "AddV2", "", "Identity"])))
    op.input.extend(draw(st.lists(short_texts, max_size=4)))
    for key in draw(st.lists(short_texts, max_size=3 if big else 1, unique=True)):
        op.attr[key].CopyFrom(draw(attrs()) if big else t3.Attr(s=draw(short_texts)))
    if draw(bools):
        op.priority = draw(int32s)
    return op


@st.composite
def graph_messages(draw) -> t3.Graph:
    """A random GraphDef-like Graph: ops with tensor attrs, a function library, versions, blobs."""
    graph = t3.Graph(version=draw(int32s))
    for op in draw(st.lists(ops(), max_size=6)):
        graph.node.append(op)
    if draw(st.integers(0, 3)) == 0:  # many small ops
        template = draw(ops(big=False))
        for i in range(draw(st.integers(10, 150))):
            op = graph.node.add()
            op.CopyFrom(template)
            op.name = f"{template.name}_{i}"
    for _ in range(draw(st.integers(0, 2))):
        function = graph.library.function.add(name=draw(short_texts))
        for op in draw(st.lists(ops(), max_size=3)):
            function.ops.append(op)
        for key, value in draw(st.dictionaries(short_texts, big_texts(300), max_size=3)).items():
            function.ret[key] = value
    for key, value in draw(st.dictionaries(uint64s, big_bytes(3000), max_size=4)).items():
        graph.blobs[key] = value
    if draw(st.integers(0, 9)) == 0:
        graph.MergeFromString(draw(unknown_field_bytes(graph.DESCRIPTOR)))
    return graph


def any_messages() -> st.SearchStrategy:
    """Messages of every test schema: proto2 (Everything), proto3 (Graph), proto2 with required fields (Holder)."""
    return st.one_of(everything_messages(), graph_messages(), holders())


# ---- field paths ----------------------------------------------------------------------------------------


def _render_key(key_field: FieldDescriptor, key) -> str | None:
    """The path text of a map key, or None when a key cannot be written in the path syntax."""
    if key_field.type == _T.TYPE_STRING:
        if "]" in key:
            return None
        if "'" not in key:
            return f"'{key}'"
        if '"' not in key:
            return f'"{key}"'
        return None
    if key_field.type == _T.TYPE_BOOL:
        return "true" if key else "false"
    return str(key)


_MISSING_KEYS = {
    _T.TYPE_STRING: st.sampled_from(["", "missing", "é"]),
    _T.TYPE_BOOL: bools,
    _T.TYPE_INT32: int32s,
    _T.TYPE_SINT32: int32s,
    _T.TYPE_SFIXED32: int32s,
    _T.TYPE_INT64: int64s,
    _T.TYPE_SINT64: int64s,
    _T.TYPE_SFIXED64: int64s,
    _T.TYPE_UINT32: uint32s,
    _T.TYPE_FIXED32: uint32s,
    _T.TYPE_UINT64: uint64s,
    _T.TYPE_FIXED64: uint64s,
}


def draw_field_path(draw, message) -> str:
    """A path string valid for message's type, biased to the fields, indices and keys `message` holds
    (plus indices past the end, keys that are absent and fields that are unset).

    A plain function taking `draw` (e.g. `data.draw` of st.data()) rather than a composite strategy, so
    that hypothesis never builds the repr of a big message argument."""
    parts: list[str] = []
    descriptor, current = message.DESCRIPTOR, message
    while True:
        present = [f for f, _ in current.ListFields() if not f.is_extension] if current is not None else []
        field = (
            draw(st.sampled_from(present))
            if present and draw(st.integers(0, 4))
            else draw(st.sampled_from(list(descriptor.fields)))
        )
        text = field.name
        value = getattr(current, field.name) if current is not None else None
        next_descriptor = next_message = None
        if descriptors.is_map(field):
            key_field, value_field = field.message_type.fields_by_number[1], field.message_type.fields_by_number[2]
            if draw(st.integers(0, 3)):
                existing = [k for k in (value or {}) if _render_key(key_field, k) is not None]
                key = (
                    draw(st.sampled_from(existing))
                    if existing and draw(st.integers(0, 3))
                    else draw(_MISSING_KEYS[key_field.type])
                )
                rendered = _render_key(key_field, key)
                if rendered is not None:
                    text += f"[{rendered}]"
                    if value_field.message_type is not None:
                        next_descriptor = value_field.message_type
                        next_message = value[key] if value is not None and key in value else None
        elif descriptors.is_repeated(field):
            size = len(value) if value is not None else 0
            if draw(st.integers(0, 4)):
                index = draw(st.one_of(st.integers(0, size + 2), st.sampled_from([size, 10**12])))
                text += f"[{index}]"
                if field.message_type is not None:
                    next_descriptor = field.message_type
                    next_message = value[index] if index < size else None
        elif field.message_type is not None:
            next_descriptor = field.message_type
            next_message = value if current is not None and current.HasField(field.name) else None
        parts.append(text)
        if next_descriptor is None or not next_descriptor.fields or draw(st.integers(0, 2)) == 0:
            return ".".join(parts)
        descriptor, current = next_descriptor, next_message


def draw_field_paths(draw, message, max_paths: int = 4) -> list[str]:
    """One to max_paths paths for `message` (see draw_field_path)."""
    return [draw_field_path(draw, message) for _ in range(draw(st.integers(1, max_paths)))]


# ---- proto2 with required fields: Holder ----------------------------------------------------------------


@st.composite
def blobs(draw) -> tr.Blob:
    """A Blob: a required (often big) bytes value and a required Stamp."""
    blob = tr.Blob(main=draw(big_bytes(6000)))
    blob.stamp.seconds = draw(int64s)
    if draw(bools):
        blob.stamp.zone = draw(big_texts(400))
    if draw(bools):
        blob.id = draw(int32s)
    return blob


@st.composite
def holders(draw, depth: int = 0) -> tr.Holder:
    """A Holder: required fields at every level (message, string, group, bytes), lists and maps of Blobs,
    and nested Holders, so that placeholders are needed wherever a required field moves out."""
    holder = tr.Holder(label=draw(big_texts(700)), payload=draw(big_bytes(5000)))
    holder.blob.CopyFrom(draw(blobs()))
    holder.header.stamp = draw(int64s)
    if draw(bools):
        holder.header.note = draw(big_bytes(5000))
    holder.blobs.extend(draw(st.lists(blobs(), max_size=4)))
    for key in draw(st.lists(short_texts, max_size=3, unique=True)):
        holder.named[key].CopyFrom(draw(blobs()))
    if draw(bools):
        holder.spare.CopyFrom(draw(blobs()))
    if depth < 2 and draw(bools):
        holder.child.CopyFrom(draw(holders(depth + 1)))
    if depth < 2:
        for key in draw(st.lists(int64s, max_size=2, unique=True)):
            holder.nested[key].CopyFrom(draw(holders(depth + 1)))
    return holder
