"""The exact graph rewrites: ConvTranspose as MatMul (1×1 input) and as sub-pixel Conv + DepthToSpace."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from keras_fwi.export.graph_passes import optimize


def conv_transpose_model(channels_in, channels_out, size, kernel, stride, bias=True, **attributes):
    rng = np.random.default_rng(kernel * 10 + stride)
    weight = rng.standard_normal((channels_in, channels_out, kernel, kernel)).astype(np.float32)
    inits = [numpy_helper.from_array(weight, "W")]
    inputs = ["x", "W"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(channels_out).astype(np.float32), "B"))
        inputs.append("B")
    node = helper.make_node("ConvTranspose", inputs, ["y"], kernel_shape=[kernel, kernel], strides=[stride, stride],
                            **attributes)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", channels_in,
                                                                                                size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", channels_out, "h", "w"])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def outputs(model, x):
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


@pytest.mark.parametrize("size, kernel, stride, bias, rewritten_as", [
    (1, 5, 1, True, "MatMul"),          # InversionNet deconv1_1
    (1, 5, 1, False, "MatMul"),
    (6, 4, 2, True, "DepthToSpace"),    # InversionNet deconv2_1 … deconv5_1 (before their crop)
    (5, 2, 2, True, "DepthToSpace"),    # FCNVMB's up-sampling
    (4, 6, 3, False, "DepthToSpace"),
    (7, 3, 2, True, "ConvTranspose"),   # kernel not a multiple of the stride: left alone
    (6, 3, 1, True, "ConvTranspose"),   # stride 1 on a larger map: left alone
])
def test_rewrites_are_exact(size, kernel, stride, bias, rewritten_as):
    model = conv_transpose_model(6, 5, size, kernel, stride, bias=bias)
    x = np.random.default_rng(0).standard_normal((3, 6, size, size)).astype(np.float32)
    expected = outputs(model, x)
    optimize(model)
    onnx.checker.check_model(model, full_check=True)
    assert rewritten_as in [node.op_type for node in model.graph.node]
    np.testing.assert_allclose(outputs(model, x), expected, atol=1e-5, rtol=1e-5)


def test_padded_conv_transpose_is_left_alone():
    model = conv_transpose_model(4, 4, 5, 4, 2, pads=[1, 1, 1, 1])
    optimize(model)
    assert [node.op_type for node in model.graph.node] == ["ConvTranspose"]
