"""The normalisation is defined once (step lists); its NumPy, TensorFlow, Keras-ops and ONNX forms agree.

Each form is also compared with OpenFWI's formula written out here with the published constants of
FlatVel-A (lanl/OpenFWI dataset_config.json: data -26.95..52.77, label 1500..4500 m/s), independently
of the YAML presets.
"""

import numpy as np
import pytest

from keras_fwi.data.normalization import KERAS_OPS, Normalization, apply_steps
from keras_fwi.data.transforms import NUMPY_OPS

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")


def _openfwi_seismic(raw):
    """OpenFWI's transforms.py: log_transform then minmax_normalize, float64."""
    low, high = np.log1p(26.95) * -1, np.log1p(52.77)
    logged = np.sign(raw) * np.log1p(np.abs(raw))
    return ((logged - low) / (high - low) - 0.5) * 2


def _openfwi_velocity_to_ms(normalised):
    return (normalised / 2 + 0.5) * (4500 - 1500) + 1500


def _tf_form(steps, values):
    import tensorflow as tf

    from keras_fwi.data.tf_transforms import TF_OPS

    return apply_steps(steps, tf.constant(values), TF_OPS).numpy()


def _keras_form(steps, values):
    from keras import ops

    return ops.convert_to_numpy(apply_steps(steps, ops.convert_to_tensor(values), KERAS_OPS))


def _onnx_form(steps, values):
    from onnx import TensorProto, helper

    from keras_fwi.export.normalization import onnx_nodes

    graph = helper.make_graph([], "steps", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])])
    graph.node.extend(onnx_nodes(graph, steps, "x", "y", "t_"))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": values})[0]


FORMS = {"numpy": lambda steps, v: apply_steps(steps, v, NUMPY_OPS), "tensorflow": _tf_form,
         "keras": _keras_form, "onnx": _onnx_form}


@pytest.fixture
def samples():
    rng = np.random.default_rng(7)
    raw = np.concatenate([rng.uniform(-26.95, 52.77, 4000), rng.normal(0, 1e-3, 500), [0.0, -26.95, 52.77]])
    velocity = rng.uniform(1500, 4500, 2000)
    return raw.astype(np.float32), velocity.astype(np.float32)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_computes_openfwi_normalisation(form, samples):
    raw, velocity = samples
    norm = Normalization.from_preset("flatvel-a")
    apply = FORMS[form]
    seismic = apply(norm.seismic_forward(), raw)
    assert seismic.dtype == np.float32
    # float32 rounding of values in [-1, 1] (Log(1 + y) in ONNX: a few ulp near 0)
    np.testing.assert_allclose(seismic, _openfwi_seismic(raw.astype(np.float64)), rtol=0, atol=4e-6)
    unit = np.float32(2) * (velocity - np.float32(1500)) / np.float32(3000) - np.float32(1)
    np.testing.assert_allclose(apply(norm.velocity_inverse(), unit), _openfwi_velocity_to_ms(unit.astype(np.float64)),
                               rtol=0, atol=4500 * 4e-7)
    np.testing.assert_allclose(apply(norm.velocity_forward(), velocity), unit, rtol=0, atol=4e-7)
    back = apply(norm.seismic_inverse(), seismic)
    np.testing.assert_allclose(back, raw, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dataset", ["curvefault-b", "style-a"])
def test_forms_agree_with_each_other(dataset, samples):
    raw, velocity = samples
    norm = Normalization.from_preset(dataset)
    reference = FORMS["numpy"](norm.seismic_forward(), raw)
    for form in ("tensorflow", "keras", "onnx"):
        np.testing.assert_allclose(FORMS[form](norm.seismic_forward(), raw), reference, rtol=0, atol=4e-6,
                                   err_msg=form)


def test_constants_come_from_the_preset_and_validate():
    norm = Normalization.from_preset("flatvel_a")
    assert (norm.data_min, norm.data_max, norm.label_min, norm.label_max, norm.k, norm.dataset) == \
        (-26.95, 52.77, 1500.0, 4500.0, 1.0, "flatvel-a")
    assert Normalization.from_json(norm.to_json()) == norm
    fcnvmb = Normalization.from_preset("fcnvmb-seg-salt")
    assert not fcnvmb.complete
    with pytest.raises(ValueError, match="'fcnvmb-seg-salt' has no seismic range"):
        fcnvmb.seismic_forward()
    with pytest.raises(ValueError, match="label_max must be a finite number, got None"):
        Normalization(data_min=None, data_max=None, label_min=1500.0, label_max=None)
