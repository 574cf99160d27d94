"""OpenFWI's normalisation as ONNX nodes, for ``--raw-io`` models: raw amplitudes in, m/s out.

The constants (``Normalization``) and the transforms, as step lists, are defined once in
``keras_fwi.data.normalization``; this module holds the ONNX primitives (``ONNX_OPS``) that emit each
step as nodes in OpenFWI's order of operations, so the graph computes what the NumPy and TensorFlow
forms compute (a test compares all three). ``onnx`` is imported only inside the graph builder; the
TensorFlow-free runtime uses this module.
"""

from __future__ import annotations

import numpy as np

from keras_fwi.data.normalization import Normalization, Step

__all__ = ["ONNX_OPS", "Normalization", "add_raw_io", "onnx_nodes"]


class _Emitter:
    """Appends nodes and float32 constants to a graph under a name prefix; ``emit`` runs one step."""

    def __init__(self, graph, prefix: str):
        self.graph, self.prefix, self.nodes, self._count = graph, prefix, [], 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}{self._count}_{hint}"

    def const(self, value: float) -> str:
        from onnx import numpy_helper

        name = self.name("const")
        self.graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str) -> str:
        from onnx import helper

        output = self.name(hint)
        self.nodes.append(helper.make_node(op, inputs, [output]))
        return output


def _signed_log1p(emit: _Emitter, x: str, k: float) -> str:
    scaled = emit.node("Abs", [emit.node("Mul", [x, emit.const(k)], "kx")], "abs")
    # ONNX has no Log1p; Log(1 + y) differs from log1p(y) by at most float32 rounding of 1 + y.
    logged = emit.node("Log", [emit.node("Add", [scaled, emit.const(1.0)], "one_plus")], "log")
    return emit.node("Mul", [emit.node("Sign", [x], "sign"), logged], "signed_log")


def _signed_expm1(emit: _Emitter, y: str, k: float) -> str:
    grown = emit.node("Sub", [emit.node("Exp", [emit.node("Abs", [y], "abs")], "exp"), emit.const(1.0)], "expm1")
    return emit.node("Div", [emit.node("Mul", [emit.node("Sign", [y], "sign"), grown], "signed"), emit.const(k)],
                     "over_k")


def _to_unit(emit: _Emitter, x: str, low: float, high: float) -> str:
    shifted = emit.node("Div", [emit.node("Sub", [x, emit.const(low)], "minus_low"), emit.const(high - low)], "ratio")
    return emit.node("Mul", [emit.node("Sub", [shifted, emit.const(0.5)], "centred"), emit.const(2.0)], "unit")


def _from_unit(emit: _Emitter, y: str, low: float, high: float) -> str:
    half = emit.node("Add", [emit.node("Div", [y, emit.const(2.0)], "half"), emit.const(0.5)], "zero_one")
    return emit.node("Add", [emit.node("Mul", [half, emit.const(high - low)], "span"), emit.const(low)], "restored")


ONNX_OPS = {"signed_log1p": _signed_log1p, "signed_expm1": _signed_expm1, "to_unit": _to_unit,
            "from_unit": _from_unit}


def onnx_nodes(graph, steps: tuple[Step, ...], source: str, target: str, prefix: str) -> list:
    """Nodes computing ``steps`` from tensor ``source`` into tensor ``target`` (constants go into ``graph``)."""
    from onnx import helper

    emit = _Emitter(graph, prefix)
    value = source
    for step in steps:
        value = ONNX_OPS[step.op](emit, value, *step.args)
    emit.nodes.append(helper.make_node("Identity", [value], [target]))
    return emit.nodes


def add_raw_io(model, normalization: Normalization, input_name: str = "seismic",
               output_name: str = "velocity"):
    """Wrap an ONNX model's graph in place: raw amplitudes in, m/s out, same input/output names.

    The network's own input and output are renamed ``{input_name}_normalised`` and
    ``{output_name}_normalised``; the new nodes compute in float32 (also around a float16 network).

    Args:
        model: ``onnx.ModelProto`` whose graph has one input ``input_name`` and one output ``output_name``.
        normalization: the dataset constants.

    Returns:
        The same ``ModelProto``.
    """
    from onnx import TensorProto

    graph = model.graph
    inner_in, inner_out = f"{input_name}_normalised", f"{output_name}_normalised"
    for node in graph.node:
        node.input[:] = [inner_in if name == input_name else name for name in node.input]
        node.output[:] = [inner_out if name == output_name else name for name in node.output]

    pre = onnx_nodes(graph, normalization.seismic_forward(), input_name, inner_in, "raw_io_in_")
    post = onnx_nodes(graph, normalization.velocity_inverse(), inner_out, output_name, "raw_io_out_")
    nodes = pre + list(graph.node) + post
    del graph.node[:]
    graph.node.extend(nodes)
    for value_info in (*graph.input, *graph.output):
        if value_info.name in (input_name, output_name):
            value_info.type.tensor_type.elem_type = TensorProto.FLOAT
    return model
