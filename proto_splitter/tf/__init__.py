"""Wire-compatible copies of the TensorFlow 2.21 protos (GraphDef, SavedModel and what they reference), in the
proto package `proto_splitter.tf`; generated from protos/proto_splitter/tf/ by scripts/generate_protos.py.

    from proto_splitter.tf import graph_pb2, saved_model_pb2
    graph_def = graph_pb2.GraphDef()
"""
