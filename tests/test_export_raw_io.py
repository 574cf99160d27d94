"""--raw-io (OpenFWI's normalisation inside the graph) and --fp16 exports."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from export_support import raw_seismic, small_inversionnet

from keras_fwi.export import export_onnx, read_metadata
from keras_fwi.export.verify import FLOAT16_BOUND, FLOAT32_BOUND


@pytest.fixture(scope="module")
def model():
    return small_inversionnet(seed=2)


def run(path, seismic):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["velocity"], {"seismic": seismic})[0]


def reference_ms(model, raw):
    """OpenFWI's formulas written out in NumPy, then Keras, then back to m/s."""
    low, high = (np.sign(v) * np.log1p(abs(v)) for v in (-26.95, 52.77))
    normalised = ((np.sign(raw) * np.log1p(np.abs(raw)) - low) / (high - low) - 0.5) * 2
    prediction = model.predict(normalised.astype(np.float32), verbose=0)
    return (prediction / 2 + 0.5) * (4500.0 - 1500.0) + 1500.0


def test_raw_io_graph_takes_raw_amplitudes_and_returns_m_per_s(model, tmp_path):
    out = tmp_path / "raw.onnx"
    export_onnx(model, out, dataset="flatvel-a", raw_io=True)
    props = read_metadata(out).props
    assert (props["input_units"], props["output_units"]) == ("raw", "m/s")
    graph = onnx.load(str(out)).graph
    assert [value.name for value in graph.input] == ["seismic"]
    assert [value.name for value in graph.output] == ["velocity"]
    assert {"Log", "Sign", "Abs"} <= {node.op_type for node in graph.node}
    raw = raw_seismic((5, 1000, 70), batch=4, seed=7)
    raw[0] *= 1e-3  # tiny amplitudes too, where log1p ≈ identity
    velocity = run(out, raw)
    expected = reference_ms(model, raw)
    assert 1500 - 1e-3 <= velocity.min() and velocity.max() <= 4500 + 1e-3 and velocity.std() > 100
    # float32 parity relative to the tanh output's scale 1, i.e. 1500 m/s per normalised unit
    np.testing.assert_allclose(velocity, expected, atol=FLOAT32_BOUND.max_rel * 1500, rtol=0)


def test_fp16_export_is_float16_inside_float32_outside_and_within_its_bound(model, tmp_path):
    out = tmp_path / "fp16.onnx"
    info = export_onnx(model, out, fp16=True)
    assert info.props["precision"] == "float16"
    assert info.props["parity_bound"] == str(FLOAT16_BOUND)
    graph = onnx.load(str(out)).graph
    weights = [init for init in graph.initializer if init.dims and np.prod(init.dims) > 16]
    assert weights and all(init.data_type == onnx.TensorProto.FLOAT16 for init in weights)
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    seismic = np.random.default_rng(8).uniform(-1, 1, (4, 5, 1000, 70)).astype(np.float32)
    diff = np.abs(run(out, seismic) - model.predict(seismic, verbose=0))
    assert diff.max() <= FLOAT16_BOUND.max_rel and diff.mean() <= FLOAT16_BOUND.mean_rel
    assert diff.max() > 1e-5  # really computed in float16


def test_fp16_raw_io_keeps_the_normalisation_in_float32(model, tmp_path):
    out = tmp_path / "fp16_raw.onnx"
    export_onnx(model, out, fp16=True, raw_io=True, dataset="flatvel-a")
    raw = raw_seismic((5, 1000, 70), batch=2, seed=9)
    velocity = run(out, raw)
    diff = np.abs(velocity - reference_ms(model, raw)) / 1500.0  # back to normalised units
    assert diff.max() <= FLOAT16_BOUND.max_rel and diff.mean() <= FLOAT16_BOUND.mean_rel
