"""export_onnx: graph layout, parity with Keras, metadata, and what it refuses (nothing written then)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx
import onnxruntime
import pytest
from export_support import FLATVEL_A, SMALL_WIDTHS, calibrated, raw_seismic, small_fcnvmb, small_inversionnet

import keras_fwi
from keras_fwi.export import Normalization, ParityError, export_onnx, read_metadata
from keras_fwi.export.verify import FLOAT32_BOUND

# float32 parity, as a fraction of the output scale (1: the tanh output's full scale); see verify.py.
ATOL = FLOAT32_BOUND.max_rel


@pytest.fixture(scope="module")
def small_model():
    return small_inversionnet()


@pytest.fixture(scope="module")
def saved_model(small_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("checkpoint") / "small.keras"
    small_model.save(path)
    return path


@pytest.fixture(scope="module")
def exported(saved_model, tmp_path_factory):
    """The small InversionNet exported from its .keras file, with flatvel-a's constants."""
    out = tmp_path_factory.mktemp("onnx") / "small.onnx"
    info = export_onnx(saved_model, out, dataset="flatvel-a", check_seismic=raw_seismic((5, 1000, 70), batch=2))
    return out, info


def run_onnx(path, seismic):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["velocity"], {"seismic": seismic})[0]


def op_types(path):
    return [node.op_type for node in onnx.load(str(path)).graph.node]


def test_graph_has_openfwi_io_a_symbolic_batch_and_no_transposes(exported):
    path, _ = exported
    graph = onnx.load(str(path)).graph
    (seismic,), (velocity,) = graph.input, graph.output
    assert (seismic.name, velocity.name) == ("seismic", "velocity")
    dims = lambda value: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(seismic) == ["batch", 5, 1000, 70]
    assert dims(velocity) == ["batch", 1, 70, 70]
    assert seismic.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert "Transpose" not in op_types(path)
    assert "BatchNormalization" not in op_types(path)  # folded into the convolutions by tf2onnx
    assert "ConvTranspose" not in op_types(path)  # rewritten by graph_passes (MatMul, sub-pixel Conv)


def test_matches_keras_on_new_inputs_and_batch_sizes(exported, small_model):
    path, _ = exported
    for batch in (1, 5):
        seismic = np.random.default_rng(batch).uniform(-1, 1, (batch, 5, 1000, 70)).astype("float32")
        expected = small_model.predict(seismic, verbose=0)
        assert np.std(expected) > 0.1  # a calibrated model, not a near-constant one
        np.testing.assert_allclose(run_onnx(path, seismic), expected, atol=ATOL, rtol=0)


def test_metadata(exported, saved_model):
    path, info = exported
    props = read_metadata(path).props
    assert props["keras_fwi_version"] == keras_fwi.__version__
    assert props["architecture"] == "inversionnet"
    assert json.loads(props["input_shape"]) == [None, 5, 1000, 70]
    assert json.loads(props["output_shape"]) == [None, 1, 70, 70]
    assert props["input_layout"] == "batch,shots,time,receivers"
    assert props["output_layout"] == "batch,1,depth,width"
    assert props["input_units"] == "normalised" and props["output_units"] == "normalised"
    assert props["precision"] == "float32" and props["opset"] == "17"
    assert props["source"] == "small.keras"
    assert props["source_sha256"] == hashlib.sha256(saved_model.read_bytes()).hexdigest()
    assert Normalization.from_json(props["normalization"]) == Normalization(**FLATVEL_A)
    assert float(props["parity_max_rel_diff"]) <= FLOAT32_BOUND.max_rel
    assert float(props["parity_mean_rel_diff"]) <= FLOAT32_BOUND.mean_rel
    assert info.props == props


def test_channels_last_model_exports_to_the_same_openfwi_graph(small_model, tmp_path):
    import keras_fwi.models

    model = keras_fwi.models.inversionnet(widths=SMALL_WIDTHS, data_format="channels_last")
    model.set_weights(small_model.get_weights())
    out = tmp_path / "last.onnx"
    export_onnx(model, out)
    assert "Transpose" not in op_types(out)
    seismic = np.random.default_rng(3).uniform(-1, 1, (2, 5, 1000, 70)).astype("float32")
    np.testing.assert_allclose(run_onnx(out, seismic), small_model.predict(seismic, verbose=0), atol=ATOL, rtol=0)


def test_fcnvmb_exports_and_matches_keras(tmp_path):
    model = small_fcnvmb()
    out = tmp_path / "fcnvmb.onnx"
    info = export_onnx(model, out)
    assert info.props["architecture"] == "fcnvmb"
    assert "Transpose" not in op_types(out)
    seismic = np.random.default_rng(4).uniform(-1, 1, (2, 5, 64, 48)).astype("float32")
    expected = model.predict(seismic, verbose=0)  # a linear output: relative to its own magnitude
    np.testing.assert_allclose(run_onnx(out, seismic), expected, atol=ATOL * max(1.0, np.abs(expected).max()), rtol=0)


def test_mixed_precision_model_exports_a_float32_graph(small_model, tmp_path):
    import keras

    import keras_fwi.models

    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = keras_fwi.models.inversionnet(widths=SMALL_WIDTHS)
    finally:
        keras.config.set_dtype_policy("float32")
    mixed.set_weights(small_model.get_weights())
    out = tmp_path / "mixed.onnx"
    export_onnx(mixed, out)
    initializers = onnx.load(str(out)).graph.initializer
    assert {init.data_type for init in initializers} <= {onnx.TensorProto.FLOAT, onnx.TensorProto.INT64}
    seismic = np.random.default_rng(5).uniform(-1, 1, (2, 5, 1000, 70)).astype("float32")
    np.testing.assert_allclose(run_onnx(out, seismic), small_model.predict(seismic, verbose=0), atol=ATOL, rtol=0)


def test_run_directory_gives_checkpoint_dataset_and_real_samples(saved_model, tmp_path, monkeypatch):
    import yaml

    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "best.keras").write_bytes(saved_model.read_bytes())
    np.save(tmp_path / "data1.npy", raw_seismic((5, 1000, 70), batch=3, seed=21))
    (tmp_path / "val.txt").write_text("data1.npy\n")  # an OpenFWI split file, unlabelled
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"data": {"dataset": "flatvel-b",
                                                                  "val": str(tmp_path / "val.txt")}}))
    from keras_fwi.export import verify

    compared = []
    real_check = verify.check_parity

    def recording_check(proto, keras_predict, seismic, bound, normalization=None, raw_seismic=None):
        compared.append(len(seismic))
        return real_check(proto, keras_predict, seismic, bound, normalization, raw_seismic)

    monkeypatch.setattr(verify, "check_parity", recording_check)
    info = export_onnx(run_dir, tmp_path / "run.onnx")
    assert info.props["source"] == "best.keras"
    assert info.normalization == Normalization.for_dataset("flatvel-b")
    assert compared == [2, 3]  # random samples, then the run's three validation samples


def test_refuses_to_overwrite_before_converting(small_model, tmp_path):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"user's file")
    with pytest.raises(FileExistsError, match="already exists; pass --overwrite"):
        export_onnx(small_model, out)
    assert out.read_bytes() == b"user's file"
    export_onnx(small_model, out, overwrite=True)
    assert read_metadata(out).props["architecture"] == "inversionnet"


def test_mismatch_writes_nothing_and_reports_the_difference(small_model, tmp_path, monkeypatch):
    from keras_fwi.export import convert

    real_convert = convert.convert

    def broken_convert(model, opset):
        proto = real_convert(model, opset)
        for initializer in proto.graph.initializer:  # perturb every float weight by 1 %
            if initializer.data_type == onnx.TensorProto.FLOAT:
                array = onnx.numpy_helper.to_array(initializer) * np.float32(1.01)
                initializer.CopyFrom(onnx.numpy_helper.from_array(array, initializer.name))
        return proto

    monkeypatch.setattr(convert, "convert", broken_convert)
    out = tmp_path / "broken.onnx"
    with pytest.raises(ParityError, match=r"differs from Keras by max abs .* \(allowed: max abs 0.001, mean abs 0.0001, i.e. "):
        export_onnx(small_model, out)
    assert list(tmp_path.iterdir()) == []  # no file, no temporary left behind


@pytest.mark.parametrize("kwargs, message", [
    (dict(opset=12), "opset must be between 13 and 18"),
    (dict(opset="17"), "opset must be a positive int, got '17'"),
    (dict(raw_io=True), r"raw_io \(--raw-io\) needs the dataset\'s normalisation constants"),
    (dict(dataset="flatvel-z"), "unknown dataset 'flatvel-z'; known datasets: "),
    (dict(dataset="flatvel-a", normalization=Normalization(**FLATVEL_A)), "pass dataset= or normalization=, not both"),
    (dict(check_seismic=np.zeros((1, 5, 1000, 70))), r"check_seismic \(--check-data\) holds raw amplitudes"),
    (dict(dataset="flatvel-a", check_seismic=np.zeros((1, 1000, 70, 5))), r"check_seismic must have shape \(n, 5, 1000, 70\)"),
])
def test_bad_arguments_are_refused_clearly(small_model, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export_onnx(small_model, tmp_path / "model.onnx", **kwargs)
    assert not (tmp_path / "model.onnx").exists()


def test_bad_sources_are_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="out must be a .onnx file"):
        export_onnx("model.keras", tmp_path / "model.pb")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_onnx(tmp_path / "missing.keras", tmp_path / "model.onnx")
    (tmp_path / "weights.h5").write_bytes(b"")
    with pytest.raises(ValueError, match=r"must be a .keras file \(Keras v3 format\) or a run directory"):
        export_onnx(tmp_path / "weights.h5", tmp_path / "model.onnx")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no .keras checkpoint"):
        export_onnx(tmp_path / "empty_run", tmp_path / "model.onnx")
    with pytest.raises(ValueError, match="must be a keras.Model, a .keras file or a run directory, got int"):
        export_onnx(3, tmp_path / "model.onnx")


@pytest.mark.slow
def test_full_size_inversionnet_matches_keras(tmp_path):
    import keras_fwi.models

    model = calibrated(keras_fwi.models.inversionnet())
    out = tmp_path / "inversionnet.onnx"
    info = export_onnx(model, out, dataset="flatvel-a")
    assert info.props["output_shape"] == "[null, 1, 70, 70]"
    assert "Transpose" not in op_types(out)
    seismic = np.random.default_rng(6).uniform(-1, 1, (3, 5, 1000, 70)).astype("float32")
    np.testing.assert_allclose(run_onnx(out, seismic), model.predict(seismic, verbose=0), atol=ATOL, rtol=0)
