"""Predictor: TensorFlow-free, provider choice read back from the session, input checks, batching."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import onnxruntime
import pytest
from export_support import FLATVEL_A, raw_seismic, small_inversionnet

from keras_fwi.export import Normalization, Predictor, export_onnx


@pytest.fixture(scope="module")
def model():
    return small_inversionnet(seed=1)


@pytest.fixture(scope="module")
def onnx_files(model, tmp_path_factory):
    """Plain (normalised I/O, flatvel-a constants in metadata), raw-io, and constants-free exports."""
    folder = tmp_path_factory.mktemp("runtime")
    export_onnx(model, folder / "plain.onnx", dataset="flatvel-a")
    export_onnx(model, folder / "raw.onnx", dataset="flatvel-a", raw_io=True)
    export_onnx(model, folder / "bare.onnx")
    return folder


def keras_ms(model, raw):
    """Reference: NumPy normalisation (keras_fwi.data) → Keras → m/s."""
    from keras_fwi.data import denormalize_velocity, normalize_seismic

    return denormalize_velocity(model.predict(normalize_seismic(raw, "flatvel-a"), verbose=0), "flatvel-a")


def test_importing_and_predicting_never_imports_tensorflow(onnx_files):
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        from keras_fwi.export import Predictor
        predictor = Predictor({str(onnx_files / "raw.onnx")!r}, providers=["cpu"])
        velocity = predictor.predict(np.ones((2, 5, 1000, 70), np.float32))
        assert velocity.shape == (2, 1, 70, 70), velocity.shape
        loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras", "tf2onnx"))
        print("LOADED", loaded)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout


def test_raw_io_and_metadata_constants_give_the_same_m_per_s_as_keras(model, onnx_files):
    raw = raw_seismic((5, 1000, 70), batch=3)
    expected = keras_ms(model, raw)
    for name in ("raw.onnx", "plain.onnx"):
        predictor = Predictor(onnx_files / name, providers=["cpu"])
        assert predictor.units == "m/s"
        velocity = predictor.predict(raw)
        assert velocity.dtype == np.float32 and velocity.shape == (3, 1, 70, 70)
        # 1e-4 on the normalised output is 0.15 m/s on flatvel-a's 3000 m/s range
        np.testing.assert_allclose(velocity, expected, atol=0.15, rtol=0, err_msg=name)
        assert velocity.std() > 100  # far from a constant map


def test_model_without_constants_works_in_normalised_units(model, onnx_files):
    predictor = Predictor(onnx_files / "bare.onnx", providers=["cpu"])
    assert predictor.units == "normalised" and predictor.info.normalization is None
    seismic = np.random.default_rng(2).uniform(-1, 1, (2, 5, 1000, 70)).astype("float32")
    np.testing.assert_allclose(predictor.predict(seismic), model.predict(seismic, verbose=0), atol=1e-4, rtol=0)


def test_single_sample_and_batching_agree(onnx_files):
    raw = raw_seismic((5, 1000, 70), batch=7, seed=3)
    # Batch size changes onnxruntime's convolution blocking, hence summation order: ~1e-5 normalised,
    # i.e. ~0.02 m/s; a mix-up of samples would differ by hundreds of m/s.
    whole = Predictor(onnx_files / "raw.onnx", providers=["cpu"], batch_size=16).predict(raw)
    in_threes = Predictor(onnx_files / "raw.onnx", providers=["cpu"], batch_size=3).predict(raw)
    np.testing.assert_allclose(in_threes, whole, atol=0.05, rtol=0)
    single = Predictor(onnx_files / "raw.onnx", providers=["cpu"]).predict(raw[4])
    assert single.shape == (1, 70, 70)
    np.testing.assert_allclose(single, whole[4], atol=0.05, rtol=0)
    float64 = Predictor(onnx_files / "raw.onnx", providers=["cpu"]).predict(raw.astype(np.float64))
    np.testing.assert_allclose(float64, whole, atol=0.05, rtol=0)


def test_io_binding_path_gives_the_same_result(onnx_files):
    """The GPU path binds inputs/outputs to the device; the same code runs bound to the CPU here."""
    predictor = Predictor(onnx_files / "plain.onnx", providers=["cpu"])
    seismic = np.random.default_rng(4).uniform(-1, 1, (2, 5, 1000, 70)).astype("float32")
    bound = predictor._run_bound(seismic, "cpu")
    (plain,) = predictor._session.run(["velocity"], {"seismic": seismic})
    np.testing.assert_array_equal(bound, plain)


def test_provider_choice_is_read_back_from_the_session(onnx_files):
    available = onnxruntime.get_available_providers()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # CUDA listed but unloadable on a CPU machine
        predictor = Predictor(onnx_files / "plain.onnx")
    assert predictor.providers == predictor._session.get_providers()
    assert predictor.device == ("cuda" if predictor.providers[0] != "CPUExecutionProvider" else "cpu")
    assert "cpu via CPUExecutionProvider" in repr(Predictor(onnx_files / "plain.onnx", providers=["cpu"]))
    if "CUDAExecutionProvider" in available and predictor.device == "cpu":
        with pytest.warns(RuntimeWarning, match="CUDAExecutionProvider was requested but onnxruntime could not "
                                                "start it"):
            Predictor(onnx_files / "plain.onnx", providers=["cuda"])


def test_cuda_is_asked_for_with_a_fast_convolution_search():
    from keras_fwi.export.runtime import _requested_providers

    cuda, cpu = _requested_providers(None, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert cuda[0] == "CUDAExecutionProvider" and cuda[1]["cudnn_conv_algo_search"] == "HEURISTIC"
    assert cpu == "CPUExecutionProvider"
    assert _requested_providers(None, ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    trt = _requested_providers(["tensorrt", "cuda"], ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                                      "CPUExecutionProvider"])
    assert [entry[0] if isinstance(entry, tuple) else entry for entry in trt] == [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize("seismic, message", [
    (np.zeros((2, 1000, 70, 5), np.float32), r"looks like another layout.*np.transpose\(seismic, \(0, 3, 1, 2\)\)"),
    (np.zeros((1000, 70, 5), np.float32), r"looks like another layout.*np.transpose\(seismic, \(2, 0, 1\)\)"),
    (np.zeros((2, 5, 999, 70), np.float32), r"must have shape \(batch, shots, time, receivers\) = "
                                            r"\(batch, 5, 1000, 70\) .*got \(2, 5, 999, 70\)"),
    (np.zeros((5, 70), np.float32), r"got \(5, 70\)"),
    (np.zeros((2, 5, 1000, 70), np.int16), r"must be a float array, got dtype int16; convert it with .astype"),
])
def test_bad_inputs_are_refused_clearly(onnx_files, seismic, message):
    with pytest.raises(ValueError, match=message):
        Predictor(onnx_files / "raw.onnx", providers=["cpu"]).predict(seismic)


def test_nan_and_inf_name_the_samples(onnx_files):
    seismic = np.zeros((4, 5, 1000, 70), np.float32)
    seismic[1, 0, 10, 3] = np.nan
    seismic[3, 2, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"NaN or infinite values in sample\(s\) \[1, 3\]"):
        Predictor(onnx_files / "raw.onnx", providers=["cpu"]).predict(seismic)


def test_bad_files_and_options_are_refused_clearly(onnx_files, tmp_path):
    with pytest.raises(FileNotFoundError, match="ONNX model .*missing.onnx does not exist"):
        Predictor(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="execution provider 'rocm' is not available in this onnxruntime"):
        Predictor(onnx_files / "raw.onnx", providers=["rocm"])
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        Predictor(onnx_files / "raw.onnx", batch_size=0)
    foreign = tmp_path / "foreign.onnx"
    _write_foreign_model(foreign)
    with pytest.raises(ValueError, match="has no keras_fwi metadata .*export it with `keras_fwi export`"):
        Predictor(foreign, providers=["cpu"])


def _write_foreign_model(path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_normalization_constants_are_validated():
    with pytest.raises(ValueError, match="data_min must be smaller than data_max, got 5.0 and 1.0"):
        Normalization(data_min=5.0, data_max=1.0, label_min=1500.0, label_max=4500.0)
    with pytest.raises(ValueError, match="label_min must be a finite number, got nan"):
        Normalization(data_min=-1.0, data_max=1.0, label_min=float("nan"), label_max=4500.0)
    with pytest.raises(ValueError, match="has no normalisation ranges"):
        Normalization.for_dataset("fcnvmb-seg-salt")
    assert Normalization.for_dataset("flatvel_a") == Normalization(**FLATVEL_A)


def test_onnxruntime_and_onnxruntime_gpu_side_by_side_is_reported(onnx_files, monkeypatch):
    from importlib import metadata

    monkeypatch.setattr(metadata, "distribution", lambda name: object())  # both "installed"
    with pytest.warns(RuntimeWarning, match="both onnxruntime and onnxruntime-gpu are installed"):
        Predictor(onnx_files / "plain.onnx", providers=["cpu"])
