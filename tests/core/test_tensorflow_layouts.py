"""Files laid out the way TensorFlow's splitters lay them out, read whole and partially, at every path.

The layouts are built here from what TensorFlow's splitters do (tensorflow/tools/proto_splitter): the tree
splitters of its Merger tests (split_gen.py: every list element created by a chunked field, in nested
ChunkedMessages, chunks in depth-first or breadth-first order), and its C++ GraphDefSplitter (a root GraphDef
without nodes, same-type slices of a repeated field merged in order at the parent's path, constants' contents
at [node, i, attr, 'value', tensor, tensor_content], large nodes as chunks of their own at [node, i], the whole
library inserted as chunk 1, chunk indices out of file order), plus a chunk the tree does not reference.
TensorFlow's own Merger reads every one of them equal (where TensorFlow is installed), which shows the
layouts are TensorFlow's."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import proto_splitter as ps
from proto_splitter import field_paths, files
from proto_splitter.proto import chunk_pb2
from proto_splitter.testing import test_layouts_pb2 as tl
from proto_splitter.tf import function_pb2, graph_pb2, node_def_pb2

FieldTags = list


def tags(*steps) -> list[chunk_pb2.FieldIndex]:
    """FieldIndex list from field numbers (int), list indices (('i', n)) and string map keys (('k', s))."""
    out = []
    for step in steps:
        if isinstance(step, int):
            out.append(chunk_pb2.FieldIndex(field=step))
        elif step[0] == "i":
            out.append(chunk_pb2.FieldIndex(index=step[1]))
        else:
            out.append(chunk_pb2.FieldIndex(map_key=chunk_pb2.FieldIndex.MapKey(s=step[1])))
    return out


def write_layout(path: Path, chunks: list, chunked_message: chunk_pb2.ChunkedMessage) -> Path:
    files.write_chunks(chunks, chunked_message, path)
    return path


# ---- split_gen.py's string trees ---------------------------------------------------------------------------


def string_tree(levels: int = 4) -> tl.StringNode:
    """TensorFlow's test tree: the node at level l has l + 1 children, labels spell the path."""

    def grow(node: tl.StringNode, level: int, label: str) -> None:
        node.val = label
        if level < levels - 1:
            for index in range(level + 1):
                grow(node.child_nodes.add(), level + 1, label + str(level + 1) + str(index))

    root = tl.StringNode()
    grow(root, 0, "0")
    return root


def split_tree(root: tl.StringNode, breadth_first: bool) -> tuple[list, chunk_pb2.ChunkedMessage]:
    """TensorFlow's DF/BF StringNode splitters: each child is a chunk (without its children) attached at
    [child_nodes, i] of its parent's ChunkedMessage; the root chunk has no children either."""
    chunks: list = []

    def bare(node: tl.StringNode) -> tl.StringNode:
        return tl.StringNode(val=node.val)

    def attach(node: tl.StringNode, chunked_message: chunk_pb2.ChunkedMessage) -> None:
        fields = []
        for index, child in enumerate(node.child_nodes):
            field = chunked_message.chunked_fields.add(field_tag=tags(2, ("i", index)))
            field.message.chunk_index = len(chunks)
            chunks.append(bare(child))
            fields.append(field)
            if not breadth_first:
                attach(child, field.message)
        if breadth_first:
            for child, field in zip(node.child_nodes, fields, strict=True):
                attach(child, field.message)

    chunks.append(bare(root))
    root_message = chunk_pb2.ChunkedMessage(chunk_index=0)
    attach(root, root_message)
    return chunks, root_message


def tree_paths(node: tl.StringNode, prefix: str = "") -> list[str]:
    """Every path of the tree: each node, its children list and its value."""
    found = []
    for index, child in enumerate(node.child_nodes):
        here = f"{prefix}child_nodes[{index}]"
        found += [here, f"{here}.val", *tree_paths(child, here + ".")]
    return found


@pytest.fixture(scope="module", params=["depth-first", "breadth-first"])
def tree_file(request, tmp_path_factory) -> tuple[Path, tl.StringNode]:
    tree = string_tree()
    chunks, chunked_message = split_tree(tree, request.param == "breadth-first")
    path = write_layout(tmp_path_factory.mktemp("tree") / "tree.cpb", chunks, chunked_message)
    return path, tree


def test_tree_layouts_read_whole(tree_file):
    path, tree = tree_file
    assert ps.read(path, tl.StringNode) == tree
    assert len(ps.read_metadata(path).chunks) == 1 + 1 + 2 + 6


def test_tree_layouts_read_every_path(tree_file):
    path, tree = tree_file
    for text in tree_paths(tree):
        wanted = field_paths.parse(text, tl.StringNode.DESCRIPTOR)
        assert ps.read_partial(path, tl.StringNode, [text]) == ps.project(tree, [wanted]), text


def test_tree_layouts_read_pairs_of_paths(tree_file):
    path, tree = tree_file
    every = tree_paths(tree)
    for first, second in itertools.islice(itertools.combinations(every, 2), 0, None, 7):
        wanted = [field_paths.parse(text, tl.StringNode.DESCRIPTOR) for text in (first, second)]
        assert ps.read_partial(path, tl.StringNode, [first, second]) == ps.project(tree, wanted)


def test_partial_read_places_an_element_only_chunks_create(tmp_path):
    """The issue's example: child_nodes[0].child_nodes[1] with the earlier siblings' chunks skipped."""
    tree = string_tree()
    path = write_layout(tmp_path / "t.cpb", *split_tree(tree, breadth_first=False))
    part = ps.read_partial(path, tl.StringNode, ["child_nodes[0].child_nodes[1]"])
    assert part.child_nodes[0].child_nodes[1] == tree.child_nodes[0].child_nodes[1]
    assert part.child_nodes[0].child_nodes[0] == tl.StringNode()  # earlier elements stay empty


# ---- the minimal layout of the issue ----------------------------------------------------------------------


def test_elements_created_only_by_chunked_fields(tmp_path):
    graph = graph_pb2.GraphDef()
    graph.node.add(name="a", op="Const")
    graph.node.add(name="b", op="Add", input=["a"])
    chunks = [graph_pb2.GraphDef(), graph.node[0], graph.node[1]]
    chunked_message = chunk_pb2.ChunkedMessage(chunk_index=0)
    chunked_message.chunked_fields.add(field_tag=tags(1, ("i", 0)), message={"chunk_index": 1})
    chunked_message.chunked_fields.add(field_tag=tags(1, ("i", 1)), message={"chunk_index": 2})
    path = write_layout(tmp_path / "g.cpb", chunks, chunked_message)
    assert ps.read(path, graph_pb2.GraphDef) == graph
    part = ps.read_partial(path, graph_pb2.GraphDef, ["node[1]"])
    assert len(part.node) == 2 and part.node[1] == graph.node[1] and part.node[0] == node_def_pb2.NodeDef()


def test_a_gap_is_padded_no_further_than_the_skipped_fields_allow(tmp_path):
    """A forged index far past what the skipped chunked fields could create is an error, not a huge list."""
    chunks = [graph_pb2.GraphDef(), node_def_pb2.NodeDef(name="x")]
    chunked_message = chunk_pb2.ChunkedMessage(chunk_index=0)
    chunked_message.chunked_fields.add(field_tag=tags(1, ("i", 10**12)), message={"chunk_index": 1})
    path = write_layout(tmp_path / "g.cpb", chunks, chunked_message)
    with pytest.raises(ps.ChunkedProtoError, match="out of range"):
        ps.read_partial(path, graph_pb2.GraphDef, [f"node[{10**12}]"])
    with pytest.raises(ps.ChunkedProtoError, match="out of range"):
        ps.read(path, graph_pb2.GraphDef)


# ---- the C++ GraphDefSplitter ------------------------------------------------------------------------------


def tensorflow_graph() -> graph_pb2.GraphDef:
    """Constants (some big), a big non-constant node, small nodes, and a library of functions."""
    graph = graph_pb2.GraphDef()
    graph.versions.producer = 1700
    for index in range(12):
        node = graph.node.add(name=f"n{index}", op="Const" if index % 3 == 0 else "Add")
        node.input.extend([f"n{index - 1}"] if index else [])
        if index % 3 == 0:
            tensor = node.attr["value"].tensor
            tensor.dtype = 1
            tensor.tensor_shape.dim.add(size=1000 + index)
            tensor.tensor_content = bytes([index]) * 4 * (1000 + index)
        node.attr["T"].type = 1
    graph.node[7].attr["_big"].s = b"s" * 5000  # a big node that is not a constant
    for number in range(3):
        function = graph.library.function.add()
        function.signature.name = f"f{number}"
        for index in range(4):
            inner = function.node_def.add(name=f"f{number}_n{index}", op="Const" if index == 1 else "Identity")
            if index == 1:
                inner.attr["value"].tensor.tensor_content = bytes([number]) * 3000
    return graph


def graph_def_splitter_layout(graph: graph_pb2.GraphDef) -> tuple[list, chunk_pb2.ChunkedMessage]:
    """The layout of TensorFlow's C++ GraphDefSplitter for `graph` with a small limit (see the module docstring).

    Chunk list: [root, library (inserted at 1), node slices..., constants and large nodes..., function
    slices..., an unreferenced chunk]; the tree is flat, as the C++ ComposableSplitter makes it."""
    root = graph_pb2.GraphDef()
    root.CopyFrom(graph)
    nodes = list(root.node)
    del root.node[:]
    library = function_pb2.FunctionDefLibrary()
    library.CopyFrom(root.library)
    root.ClearField("library")
    later: list = []  # (chunk, field tags) added after the slices, as the node splitters run
    slices = [nodes[0:5], nodes[5:9], nodes[9:]]
    for index, node in enumerate(nodes):
        if node.op == "Const":
            tensor = node.attr["value"].tensor
            later.append((tensor.tensor_content, tags(1, ("i", index), 5, ("k", "value"), 8, 4)))
            tensor.ClearField("tensor_content")
        elif "_big" in node.attr:
            big = node_def_pb2.NodeDef()
            big.CopyFrom(node)
            node.Clear()  # the element stays, empty, in its slice; the chunk is merged into it
            later.append((big, tags(1, ("i", index))))
    slice_chunks = [graph_pb2.GraphDef(node=part) for part in slices]
    function_slices = []
    for number, function in enumerate(library.function):
        function_slices.append((function_pb2.FunctionDef(node_def=function.node_def[2:]), number))
        del function.node_def[2:]
    chunks = [root, library, *slice_chunks, *[chunk for chunk, _ in later], *[f for f, _ in function_slices]]
    chunks.append(b"not referenced by the tree")
    chunked_message = chunk_pb2.ChunkedMessage(chunk_index=0)
    chunked_message.chunked_fields.add(field_tag=tags(2), message={"chunk_index": 1})
    for position in range(len(slice_chunks)):
        chunked_message.chunked_fields.add(field_tag=[], message={"chunk_index": 2 + position})
    first_later = 2 + len(slice_chunks)
    for offset, (_, field_tag) in enumerate(later):
        chunked_message.chunked_fields.add(field_tag=field_tag, message={"chunk_index": first_later + offset})
    first_function = first_later + len(later)
    for offset, (_, number) in enumerate(function_slices):
        field_tag = tags(2, 1, ("i", number))
        chunked_message.chunked_fields.add(field_tag=field_tag, message={"chunk_index": first_function + offset})
    return chunks, chunked_message


GRAPH_PATHS = [
    "node",
    "versions",
    "library",
    *[f"node[{index}]" for index in range(12)],
    "node[3].attr['value'].tensor",
    "node[7].attr['_big']",
    "node[11].input",
    *[f"library.function[{number}]" for number in range(3)],
    "library.function[1].node_def[3]",
    "library.function[2].node_def[1].attr['value']",
]


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory) -> tuple[Path, graph_pb2.GraphDef]:
    graph = tensorflow_graph()
    path = write_layout(tmp_path_factory.mktemp("graph") / "graph.cpb", *graph_def_splitter_layout(graph))
    return path, graph


def test_graph_def_splitter_layout_reads_whole(graph_file):
    path, graph = graph_file
    assert ps.read(path, graph_pb2.GraphDef) == graph
    with open(path, "rb") as handle:
        assert ps.read(handle, graph_pb2.GraphDef) == graph


@pytest.mark.parametrize("text", GRAPH_PATHS)
def test_graph_def_splitter_layout_reads_every_path(graph_file, text):
    path, graph = graph_file
    wanted = field_paths.parse(text, graph_pb2.GraphDef.DESCRIPTOR)
    assert ps.read_partial(path, graph_pb2.GraphDef, [text]) == ps.project(graph, [wanted])


def test_graph_def_splitter_layout_partial_by_metadata(graph_file):
    """TensorFlow's ReadPartial form: a ChunkMetadata whose tree lists the chunks to merge."""
    path, graph = graph_file
    metadata = ps.read_metadata(path)
    del metadata.message.chunked_fields[4:]  # the library and the node slices only
    part = ps.read_partial(path, graph_pb2.GraphDef, metadata)
    expected = [node.name if index != 7 else "" for index, node in enumerate(graph.node)]  # n7: own chunk
    assert [node.name for node in part.node] == expected
    assert part.library.function[0].signature == graph.library.function[0].signature


@pytest.mark.tensorflow
def test_tensorflow_reads_these_layouts(tmp_path, tf_merger, graph_file):
    """TensorFlow's Merger reads every layout here into the same message: they are TensorFlow's layouts."""
    path, graph = graph_file
    assert tf_merger.read(str(path)[: -len(".cpb")], graph_pb2.GraphDef) == graph
    tree = string_tree()
    for order in (False, True):
        prefix = tmp_path / f"tree{order}"
        write_layout(prefix.with_suffix(".cpb"), *split_tree(tree, breadth_first=order))
        assert tf_merger.read(prefix, tl.StringNode) == tree


# ---- ps.ComposableSplitter: TensorFlow's Python splitter API -------------------------------------------------


class TreeSplitter(ps.ComposableSplitter):
    """Each child node becomes a chunk at [child_nodes, i] of its parent, built by a child splitter, as
    TensorFlow's split_gen.py does with its ComposableSplitter."""

    def build_chunks(self) -> None:
        children = list(self._proto.child_nodes)
        del self._proto.child_nodes[:]
        for index, child in enumerate(children):
            self.add_chunk(tl.StringNode(val=child.val), ["child_nodes", index])
            # grandchildren are attached below this child: fields_in_parent names the child in its parent
            kept = tl.StringNode(child_nodes=child.child_nodes)
            TreeSplitter(kept, parent_splitter=self, fields_in_parent=["child_nodes", index]).build_chunks()


def test_composable_splitter_writes_what_both_mergers_read(tmp_path, tf_merger):
    tree = string_tree()
    root = tl.StringNode()
    root.CopyFrom(tree)
    splitter = TreeSplitter(root)
    chunks, chunked_message = splitter.split()
    assert len(chunks) == 10 and splitter.split()[1] == chunked_message  # built once
    assert ps.merge(chunks, chunked_message, tl.StringNode) == tree
    path = splitter.write(tmp_path / "tree", writer_options="zstd:1")
    assert path.endswith(".cpb")
    assert ps.read(path, tl.StringNode) == tree
    assert tf_merger.read(tmp_path / "tree", tl.StringNode) == tree
    part = ps.read_partial(path, tl.StringNode, ["child_nodes[0].child_nodes[1].child_nodes[2]"])
    wanted = tree.child_nodes[0].child_nodes[1].child_nodes[2]
    assert part.child_nodes[0].child_nodes[1].child_nodes[2] == wanted


def test_composable_splitter_inserts_chunks_at_an_index(tmp_path):
    graph = graph_pb2.GraphDef()
    graph.node.add(name="a", op="Const").attr["value"].tensor.tensor_content = b"A" * 100
    graph.library.function.add().signature.name = "f"
    splitter = ps.ComposableSplitter(graph)
    library = function_pb2.FunctionDefLibrary()
    library.CopyFrom(graph.library)
    graph.ClearField("library")
    content = graph.node[0].attr["value"].tensor.tensor_content
    graph.node[0].attr["value"].tensor.ClearField("tensor_content")
    splitter.add_chunk(content, ["node", 0, "attr", "value", "tensor", "tensor_content"])
    splitter.add_chunk(library, ["library"], index=1)  # before the constant, as TensorFlow's GraphDefSplitter does
    chunks, chunked_message = splitter.split()
    assert chunks[1] is library and chunks[2] == content
    expected = tensorflow_graph_like(content, library)
    assert ps.merge(chunks, chunked_message, graph_pb2.GraphDef) == expected
    with pytest.raises(ps.SplitError, match="root splitter"):
        ps.ComposableSplitter(graph_pb2.GraphDef(), parent_splitter=splitter, fields_in_parent=["library"]).split()
    with pytest.raises(ps.FieldPathError, match="not a field"):
        splitter.add_chunk(b"x", ["no_such_field"])


def tensorflow_graph_like(content: bytes, library: function_pb2.FunctionDefLibrary) -> graph_pb2.GraphDef:
    graph = graph_pb2.GraphDef()
    graph.node.add(name="a", op="Const").attr["value"].tensor.tensor_content = content
    graph.library.CopyFrom(library)
    return graph
