"""`proto-splitter extract FILE PATH --type T`: one field, reading only the chunks it needs."""

from __future__ import annotations

import sys

import numpy as np
from google.protobuf import text_encoding, text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from .. import descriptors, field_paths, handle, remote
from ..errors import FieldPathError
from ..field_paths import Key
from . import common, inputs, message_types, tensor_messages

EXAMPLES = """
  proto-splitter extract model.cpb 'node[3]' --type tensorflow.GraphDef
  proto-splitter extract model.cpb 'node[3].attr["value"].tensor' --type tensorflow.GraphDef --npy w.npy
  proto-splitter extract model.cpb "library.function[0].signature.name" --type tensorflow.GraphDef
  proto-splitter extract blobs.cpb 'blobs[7]' --type my_pkg.data_pb2:Data -o blob.bin   # raw bytes
  proto-splitter extract s3://bucket/model.cpb 'node[3]' --type tensorflow.GraphDef    # fetches node 3's chunks
"""


def register(subparsers) -> None:
    parser = common.add_command(
        subparsers,
        "extract",
        "print one field (text format) or save a tensor as .npy",
        "Reads one field of the message, touching only the chunks it needs (ps.read_partial), and prints it\n"
        "in protobuf text format. PATH uses field names, [index] for lists and ['key'] for maps. With --npy\n"
        "a tensor (TensorProto: dtype, tensor_shape, tensor_content or *_val; or a tensor look-alike with\n"
        "dtype, shape, content; or a message with a `tensor` field, such as an AttrValue) is saved as a numpy\n"
        "array. Exit code 1 when the field is not set.",
        EXAMPLES,
        [common.common_options(), common.type_options(required=True)],
    )
    parser.add_argument("file", metavar="FILE", help="a .cpb or .pb file, a prefix, or a URL (https://, s3://, ...)")
    parser.add_argument("path", metavar="PATH", help="field path, e.g. 'node[3].attr[\"value\"].tensor'")
    parser.add_argument("--npy", metavar="OUT.npy", help="save the tensor at PATH as a numpy .npy file")
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write to FILE instead of stdout (a bytes or string field is written raw)",
    )
    inputs.storage_options_option(parser)
    parser.set_defaults(run=run)


class NotSet(Exception):
    """The path names a field that the message does not have."""


def value_at(message: Message, path: field_paths.FieldPath):
    """The value at `path` (a message, a scalar, or a whole repeated field/map), its field descriptor, and
    whether it is one element of a list or map."""
    current = message
    segments = field_paths.resolve(message.DESCRIPTOR, path, FieldPathError)
    for position, segment in enumerate(segments):
        field, subscript = segment.field, segment.subscript
        holder = descriptors.container(current, field)
        if subscript is None:
            if not field.is_repeated and field.message_type is not None and not descriptors.has_value(current, field):
                raise NotSet()
            value = holder
        elif isinstance(subscript, Key):
            if subscript.value not in holder:
                raise NotSet()
            value = holder[subscript.value]
        else:
            if subscript.value >= len(holder):
                raise NotSet()
            value = holder[subscript.value]
        if position < len(segments) - 1:
            if not isinstance(value, Message):
                raise NotSet()
            current = value
    return value, field, subscript is not None


def _scalar_text(field: FieldDescriptor, value) -> str:
    if isinstance(value, Message):
        return text_format.MessageToString(value)
    if isinstance(value, bytes):
        return '"' + text_encoding.CEscape(value, as_utf8=False) + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    value_field = field.message_type.fields_by_number[2] if descriptors.is_map(field) else field
    if value_field.enum_type is not None and isinstance(value, int):
        enum_value = value_field.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value is not None else str(value)
    if isinstance(value, str):
        return value
    return str(value)


def render(field: FieldDescriptor, value, element: bool) -> str | bytes:
    """Text to print for the value: text format for messages, one element per entry for lists and maps."""
    if isinstance(value, Message):
        return text_format.MessageToString(value)
    if field.is_repeated and not element:
        if descriptors.is_map(field):
            return "".join(f"[{key!r}]\n{_indent(_scalar_text(field, value[key]))}" for key in sorted(value))
        if field.message_type is not None:
            return "".join(
                f"[{index}]\n{_indent(text_format.MessageToString(item))}" for index, item in enumerate(value)
            )
        return "".join(_scalar_text(field, item) + "\n" for item in value)
    return _scalar_text(field, value) + "\n"


def _indent(text: str) -> str:
    lines = text.splitlines() or [""]
    return "".join(f"  {line}\n" for line in lines)


def run(args) -> int:
    message_class = message_types.resolve(args.type, args.descriptor_set)
    source = args.file if remote.is_remote(args.file) else common.locate(args.file)[0]
    path = field_paths.parse(args.path, message_class.DESCRIPTOR)
    partial = handle.read_partial(source, message_class, [args.path], storage_options=args.storage_options)
    try:
        value, field, element = value_at(partial, path)
    except NotSet:
        print(f"proto-splitter extract: {args.path} is not set in {source}", file=sys.stderr)
        return common.EXIT_FAILED
    if args.npy:
        tensor = tensor_messages.find_tensor(value)
        if tensor is None:
            kind = value.DESCRIPTOR.full_name if isinstance(value, Message) else type(value).__name__
            raise common.CliError(f"{args.path} is a {kind}, not a tensor (TensorProto-like message with a dtype)")
        array, note = tensor_messages.to_array(tensor)
        with open(args.npy, "wb") as out:
            np.save(out, array, allow_pickle=False)
        if note:
            common.warn(note)
        common.say(args, f"wrote {args.npy}: {array.dtype} {list(array.shape)} ({common.human(array.nbytes)})")
        return common.EXIT_OK
    if args.output and isinstance(value, (bytes, str)) and not (field.is_repeated and not element):
        data = value if isinstance(value, bytes) else value.encode()
        common.write_atomically(args.output, data)
        common.say(args, f"wrote {args.output}: {common.human(len(data))} (raw {field.name})")
        return common.EXIT_OK
    text = render(field, value, element)
    if args.output:
        common.write_atomically(args.output, text.encode())
        common.say(args, f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return common.EXIT_OK
