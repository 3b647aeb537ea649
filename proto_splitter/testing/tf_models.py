"""TensorFlow modules whose SavedModel proto has a chosen size (constants baked into functions), for tests and
benchmarks of SavedModels past 2 GiB. Needs TensorFlow."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

PIECE_BYTES = 256 << 20  # one constant per function: every FunctionDef stays far below the 2 GiB limit


def _constant_function(values: np.ndarray):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def apply(x):
        weights = tf.constant(values)
        return x * weights[0] + weights[-1]

    return apply


class BigConstantsModule(tf.Module):
    """A module of functions f_i(x) = x * c_i[0] + c_i[-1], each holding a float32 constant c_i; together the
    constants make `total_bytes`, so the SavedModel proto is slightly larger than that. `ends` holds each
    constant's (c_i[0], c_i[-1]), to check the outputs of a loaded copy without tracing the functions here."""

    def __init__(self, total_bytes: int, piece_bytes: int = PIECE_BYTES, seed: int = 0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.function_names = []
        self.ends = []
        remaining, index = total_bytes, 0
        while remaining > 0:
            count = max(1, min(piece_bytes, remaining) // 4)
            values = np.full(count, index + 1, dtype=np.float32)
            values[0], values[-1] = rng.normal(), rng.normal()
            name = f"f{index}"
            setattr(self, name, _constant_function(values))
            self.function_names.append(name)
            self.ends.append((float(values[0]), float(values[-1])))
            remaining -= count * 4
            index += 1

    def outputs(self, module, x: np.ndarray) -> list[np.ndarray]:
        """Every function of `module` (this one, or one loaded back) applied to x."""
        return [getattr(module, name)(tf.constant(x)).numpy() for name in self.function_names]


def grow_constants(saved_model, constant_bytes: int) -> list[tuple[float, float]]:
    """Replaces the constant of every BigConstantsModule function in a SavedModel proto by one of
    `constant_bytes`, keeping the function's arithmetic; returns each function's new (first, last) values.

    TensorFlow's saver needs more memory than a 24 GiB machine has to export a graph past 2 GiB, so tests
    and benchmarks save a small module and grow its constants in the proto: the same file a big save gives."""
    ends = []
    for function in saved_model.meta_graphs[0].graph_def.library.function:
        for node in function.node_def:
            if node.op != "Const":
                continue
            tensor = node.attr["value"].tensor
            if tensor.tensor_shape.dim and tensor.dtype == 1:  # DT_FLOAT
                grown = np.full(constant_bytes // 4, len(ends) + 1, dtype=np.float32)
                grown[0], grown[-1] = 0.5 + len(ends), -1.0 - len(ends)
                tensor.tensor_content = grown.tobytes()
                tensor.tensor_shape.dim[0].size = grown.size
                if "_output_shapes" in node.attr:  # (reading a missing map key would insert it)
                    for shape in node.attr["_output_shapes"].list.shape:
                        shape.dim[0].size = grown.size
                ends.append((float(grown[0]), float(grown[-1])))
    return ends
