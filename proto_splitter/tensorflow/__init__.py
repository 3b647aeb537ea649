"""TensorFlow integration: save and load SavedModels past 2 GiB, convert SavedModel directories between
`saved_model.pb` and `saved_model.cpb`, and read GraphDefs and single constants from `.pb`/`.cpb` files.

    from proto_splitter import tensorflow as pstf
    pstf.save(module, "export")              # like tf.saved_model.save; saved_model.cpb past 2 GiB
    loaded = pstf.load("export")             # like tf.saved_model.load; reads .cpb or .pb
    pstf.convert("export", "export_pb", to="pb")
    graph_def = pstf.read_graph_def("frozen.cpb")
    weights = pstf.read_tensor("frozen.cpb", "dense/kernel")   # reads only that constant's node and chunk
    with pstf.open_graph("frozen.cpb") as g: ...               # tensor_names, tensor, tensors, node

`read_graph_def`, `read_tensor` and `open_graph` work without TensorFlow (on the shipped copies of its protos in
`proto_splitter.tf`); `save`, `load` need it (`pip install 'proto-splitter[tf]'`). A GraphDef past 2 GiB
reads into a GraphDef object, but TensorFlow cannot import it into a tf.Graph (it serializes it whole).

Chunk layout: GraphDef and SavedModel are cut by the library's descriptor-driven splitter, which makes the
choices of TensorFlow's C++ GraphDefSplitter/SavedModelSplitter: a constant's `tensor_content` becomes a bytes
chunk at `node[i].attr["value"].tensor.tensor_content`; a node too big to share a chunk gets its own;
the node list (and a function's `node_def` list) is cut into runs of whole nodes merged at the parent; the
function library is split per function, and moved out whole if the graph is still too big; a SavedModel's
graph is `meta_graphs[0].graph_def`. Two choices differ, on purpose: constants of 1 MiB or more are cut
(TensorFlow waits for a node to reach the 2 GiB limit), so that `read_tensor` reads one constant's chunk;
and `float_val`-style values stay in their own field, sliced into chunks, instead of being rewritten as
`tensor_content`, so that the merged message equals the original byte for byte.
"""

from .graph_file import FUNCTION_SEPARATOR, GraphFile, open_graph, read_tensor
from .graphs import NodeNotFoundError, read_graph_def
from .saved_model import convert, load, save
from .tensors import TensorDecodeError, to_numpy

__all__ = [
    "FUNCTION_SEPARATOR",
    "GraphFile",
    "NodeNotFoundError",
    "TensorDecodeError",
    "convert",
    "load",
    "open_graph",
    "read_graph_def",
    "read_tensor",
    "save",
    "to_numpy",
]
