"""FCNVMB end to end on its own .mat layout, as the paper: pre-train on the simulated set, re-train on
the salt set with --init-from --freeze encoder, evaluate (PSNR, SSIM), export to ONNX, predict a .mat
folder and check it with `datasets --check`. Tiny data and filters; reading is checked independently."""

import json
import math

import numpy as np
import pytest
from fcnvmb_support import TINY_MODEL_OPTIONS, TINY_SURVEY, register_tiny_presets, tiny_preset

scipy_io = pytest.importorskip("scipy.io")
pytest.importorskip("onnxruntime")

from keras_fwi.cli import main  # noqa: E402
from keras_fwi.export.verify import FLOAT32_BOUND  # noqa: E402
from keras_fwi.physics.fcnvmb_files import generate_fcnvmb_dataset  # noqa: E402


def _train(run_dir, dataset, data, *extra):
    options = json.dumps(TINY_MODEL_OPTIONS)
    return main(["train", "--config", "fcnvmb_seg", "--run-dir", str(run_dir), "--epochs", "1", "--batch-size", "2",
                 "--quiet", "--set", f"data.dataset={dataset}", "--set", f"data.train={data / 'georec_train'}",
                 "--set", f"data.val={data / 'georec_test'}", "--set", f"model.options={options}", *extra])


def _independent_sample(path, variable="Rec"):
    """FCNVMB's DataLoad_Test for one file: reshape (time, receivers, shots), keep time samples 2, 7, ..."""
    rec = scipy_io.loadmat(str(path))[variable].reshape(100, 12, 3)
    return np.stack([rec[:, :, shot][2::5] for shot in range(3)]).astype(np.float32)  # (shots, time, receivers)


@pytest.mark.slow  # two training runs and a conversion: ~2 CPU-minutes
def test_pretrain_retrain_evaluate_export_predict(tmp_path, monkeypatch, capsys):
    import keras

    register_tiny_presets(monkeypatch)
    simulated, salt = tmp_path / "SimulateData", tmp_path / "SEGSaltData"
    generate_fcnvmb_dataset(simulated, 4, dataset=tiny_preset("fcnvmb-simulated"), test_samples=2,
                            survey=TINY_SURVEY, seed=1, progress=False)
    generate_fcnvmb_dataset(salt, 4, dataset=tiny_preset("fcnvmb-seg-salt"), test_samples=2,
                            survey=TINY_SURVEY, seed=2, progress=False)
    assert main(["datasets", "--check", str(salt / "georec_train"), "--dataset", "tiny-fcnvmb-seg-salt"]) == 0
    assert "4 file(s), 4 labelled samples, all checks passed" in capsys.readouterr().out

    # Pre-train on the simulated set, re-train on the salt set from it with the encoder frozen.
    assert _train(tmp_path / "pretrain", "tiny-fcnvmb-simulated", simulated) == 0
    assert _train(tmp_path / "seg", "tiny-fcnvmb-seg-salt", salt, "--init-from",
                  str(tmp_path / "pretrain" / "model.keras"), "--freeze", "encoder") == 0
    capsys.readouterr()
    pre = keras.saving.load_model(tmp_path / "pretrain" / "model.keras", safe_mode=True, compile=False)
    seg = keras.saving.load_model(tmp_path / "seg" / "model.keras", safe_mode=True, compile=False)
    for name in ("down1_conv1_conv", "center_conv2_conv"):  # frozen: carried over unchanged
        np.testing.assert_array_equal(seg.get_layer(name).get_weights()[0], pre.get_layer(name).get_weights()[0])
    assert not np.array_equal(seg.get_layer("final").get_weights()[0], pre.get_layer("final").get_weights()[0])

    # evaluate reads the run's .mat validation folder with the training reader; FCNVMB's metrics.
    assert main(["evaluate", "--run-dir", str(tmp_path / "seg")]) == 0
    metrics = json.loads((tmp_path / "seg" / "evaluation" / "metrics.json").read_text())
    assert {"fcnvmb_psnr", "fcnvmb_ssim", "velocity_mae", "velocity_rmse"} <= set(metrics)
    assert "mae" not in metrics and metrics["units"]["fcnvmb_psnr"] == "dB"
    assert metrics["units"]["velocity_mae"] == "m/s"
    test_files = [salt / "georec_test" / f"srec{i}.mat" for i in (5, 6)]
    seismic = np.stack([_independent_sample(path) for path in test_files])
    truth = np.stack([scipy_io.loadmat(str(salt / "vmodel_test" / f"svmodel{i}.mat"))["svmodel"] for i in (5, 6)])
    predicted = seg.predict(seismic, verbose=0)[:, 0].astype(np.float64)
    psnr = np.mean([10 * math.log10(np.mean(t ** 2) / np.mean((p - t) ** 2)) for p, t in zip(predicted, truth)])
    # A barely trained m/s network predicts far below the truth, so its PSNR sits near 0 dB, where a
    # relative bound is ill-conditioned: float32 sums of (p - t)^2 carry ~1e-5 relative error, i.e.
    # ~5e-5 dB. The files and predictions themselves are pinned by the MAE check below.
    assert metrics["fcnvmb_psnr"] == pytest.approx(psnr, rel=1e-4, abs=1e-4)
    assert metrics["velocity_mae"] == pytest.approx(np.abs(predicted - truth).mean(), rel=1e-4)

    # export: raw amplitudes in, m/s out, parity checked on the run's own .mat validation samples.
    assert main(["export", str(tmp_path / "seg"), "--out", str(tmp_path / "seg.onnx")]) == 0
    from keras_fwi.export import read_metadata

    props = read_metadata(tmp_path / "seg.onnx").props
    assert (props["input_units"], props["output_units"], props["dataset"]) == ("raw", "m/s", "tiny-fcnvmb-seg-salt")
    assert float(props["parity_max_rel_diff"]) <= FLOAT32_BOUND.max_rel

    # predict a .mat folder without TensorFlow's readers: one map per file, as Keras predicts it.
    assert main(["predict", "--model", str(tmp_path / "seg.onnx"), str(salt / "georec_test"), "--out",
                 str(tmp_path / "maps"), "--provider", "cpu", "--quiet"]) == 0
    assert "wrote 2 velocity file(s) (m/s)" in capsys.readouterr().out
    maps = np.stack([np.load(tmp_path / "maps" / f"srec{i}_velocity.npy", allow_pickle=False) for i in (5, 6)])
    assert maps.shape == (2, 1, 20, 12)
    scale = max(1.0, np.abs(predicted).max())
    np.testing.assert_allclose(maps[:, 0], predicted, atol=FLOAT32_BOUND.max_rel * scale, rtol=0)


def test_mat_inputs_need_an_fcnvmb_model(tmp_path, capsys):
    """An OpenFWI model refuses .mat inputs with one line naming the fix."""
    from export_support import small_inversionnet

    small_inversionnet().save(tmp_path / "small.keras")
    assert main(["export", str(tmp_path / "small.keras"), "--out", str(tmp_path / "small.onnx"),
                 "--dataset", "flatvel-a"]) == 0
    scipy_io.savemat(tmp_path / "georec1.mat", {"Rec": np.zeros((2000, 301, 29), np.float32)})
    assert main(["predict", "--model", str(tmp_path / "small.onnx"), str(tmp_path / "georec1.mat"), "--out",
                 str(tmp_path / "out"), "--provider", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "georec1.mat is a MATLAB file, read only for models of an FCNVMB dataset preset" in err
    assert "its dataset is 'flatvel-a'" in err and not (tmp_path / "out").exists()


@pytest.fixture
def salt_and_model(tmp_path, monkeypatch):
    """Tiny SEG salt data (1 train, 2 test samples) and an untrained tiny FCNVMB saved as .keras."""
    import keras

    import keras_fwi.models

    register_tiny_presets(monkeypatch)
    salt = tmp_path / "SEGSaltData"
    generate_fcnvmb_dataset(salt, 1, dataset=tiny_preset("fcnvmb-seg-salt"), test_samples=2, survey=TINY_SURVEY,
                            seed=4, progress=False)
    keras.utils.set_random_seed(0)
    options = {**TINY_MODEL_OPTIONS, "velocity_shape": tuple(TINY_MODEL_OPTIONS["velocity_shape"])}
    model = keras_fwi.models.fcnvmb(**options)
    model.save(tmp_path / "model.keras")
    seismic = np.stack([_independent_sample(salt / "georec_test" / f"srec{i}.mat") for i in (2, 3)])
    return salt, model, seismic


def test_evaluate_checkpoint_on_a_mat_folder(salt_and_model, tmp_path, capsys):
    """evaluate --checkpoint --data <.mat folder>: the preset's reader, FCNVMB's metrics, checked independently."""
    salt, model, seismic = salt_and_model
    assert main(["evaluate", "--checkpoint", str(tmp_path / "model.keras"), "--data", str(salt / "georec_test"),
                 "--dataset", "tiny-fcnvmb-seg-salt", "--out", str(tmp_path / "evaluation")]) == 0
    out = capsys.readouterr().out
    assert "fcnvmb_ssim" in out and "dB" in out
    metrics = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    truth = np.stack([scipy_io.loadmat(str(salt / "vmodel_test" / f"svmodel{i}.mat"))["svmodel"] for i in (2, 3)])
    predicted = model.predict(seismic, verbose=0)[:, 0].astype(np.float64)
    assert metrics["velocity_rmse"] == pytest.approx(np.sqrt(((predicted - truth) ** 2).mean()), rel=1e-4)
    assert metrics["units"]["fcnvmb_ssim"].startswith("1 (FCNVMB")


def test_export_records_raw_units_and_predict_reads_a_mat_file(salt_and_model, tmp_path, capsys):
    salt, model, seismic = salt_and_model
    assert main(["export", str(tmp_path / "model.keras"), "--out", str(tmp_path / "m.onnx"), "--dataset",
                 "tiny-fcnvmb-seg-salt", "--check-data", str(salt / "georec_test" / "srec2.mat")]) == 0
    assert "input raw" in capsys.readouterr().out
    from keras_fwi.export import read_metadata

    props = read_metadata(tmp_path / "m.onnx").props
    assert (props["input_units"], props["output_units"], props["dataset"]) == ("raw", "m/s", "tiny-fcnvmb-seg-salt")
    assert "normalization" not in props
    assert main(["predict", "--model", str(tmp_path / "m.onnx"), str(salt / "georec_test" / "srec3.mat"), "--out",
                 str(tmp_path / "maps"), "--provider", "cpu", "--quiet"]) == 0
    velocity = np.load(tmp_path / "maps" / "srec3_velocity.npy", allow_pickle=False)
    expected = model.predict(seismic[1:], verbose=0)[0]
    assert velocity.shape == (1, 20, 12)
    np.testing.assert_allclose(velocity, expected, atol=FLOAT32_BOUND.max_rel * max(1.0, np.abs(expected).max()))
