"""`keras_fwi export` and `keras_fwi predict`: round trip, inputs, refusals, and no TensorFlow in predict."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from export_support import raw_seismic, small_inversionnet

from keras_fwi.cli import main
from keras_fwi.export.verify import FLOAT32_BOUND


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small InversionNet saved as .keras and exported by the CLI with --raw-io."""
    folder = tmp_path_factory.mktemp("cli")
    model = small_inversionnet(seed=3)
    model.save(folder / "small.keras")
    code = main(["export", str(folder / "small.keras"), "--out", str(folder / "small.onnx"), "--raw-io",
                 "--dataset", "flatvel-a"])
    assert code == 0
    return folder, model


@pytest.fixture
def data(tmp_path):
    """Two OpenFWI-style raw data files (5 and 3 samples) and a one-sample file."""
    folder = tmp_path / "data"
    folder.mkdir()
    np.save(folder / "data1.npy", raw_seismic((5, 1000, 70), batch=5, seed=11))
    np.save(folder / "data2.npy", raw_seismic((5, 1000, 70), batch=3, seed=12))
    np.save(tmp_path / "one.npy", raw_seismic((5, 1000, 70), batch=1, seed=13)[0])
    return folder


def test_export_prints_what_it_wrote(exported, data, capsys, tmp_path):
    folder, _ = exported
    assert main(["export", str(folder / "small.keras"), "--out", str(tmp_path / "m.onnx"), "--opset", "15",
                 "--dataset", "flatvel-a", "--check-data", str(data / "data2.npy")]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "inversionnet, float32" in out and "parity with Keras: max abs" in out
    assert main(["export", str(folder / "small.keras"), "--out", str(tmp_path / "n.onnx"), "--check-data",
                 str(data / "data2.npy")]) == 2
    assert "holds raw amplitudes, which need dataset= (--dataset)" in capsys.readouterr().err


def test_round_trip_matches_keras_in_m_per_s(exported, data, tmp_path, capsys):
    from keras_fwi.data import denormalize_velocity, normalize_seismic

    folder, model = exported
    out = tmp_path / "predictions"
    code = main(["predict", "--model", str(folder / "small.onnx"), str(data / "data1.npy"), str(data.parent / "one.npy"),
                 "--out", str(out), "--provider", "cpu", "--batch-size", "2", "--quiet"])
    assert code == 0
    assert "wrote 2 velocity file(s) (m/s)" in capsys.readouterr().out
    velocity = np.load(out / "data1_velocity.npy", allow_pickle=False)
    raw = np.load(data / "data1.npy")
    expected = denormalize_velocity(model.predict(normalize_seismic(raw, "flatvel-a"), verbose=0), "flatvel-a")
    assert velocity.shape == (5, 1, 70, 70)
    # float32 parity is relative to the network's output scale (1 for its tanh output), i.e. to
    # 1500 m/s per normalised unit here: max abs 1e-3 of it = 1.5 m/s, on any x86 machine. A wrong
    # conversion (constants, layout) is off by hundreds of m/s; the mean must stay at float32 level.
    max_limit, mean_limit = (limit * (4500.0 - 1500.0) / 2 for limit in FLOAT32_BOUND.limits(1.0))
    np.testing.assert_allclose(velocity, expected, atol=max_limit, rtol=0)
    assert np.abs(velocity - expected).mean() <= mean_limit
    assert np.load(out / "one_velocity.npy").shape == (1, 70, 70)


def test_directory_and_split_file_inputs(exported, data, tmp_path):
    folder, _ = exported
    split = tmp_path / "split.txt"
    split.write_text("data/data2.npy\n")
    assert main(["predict", "--model", str(folder / "small.onnx"), str(split), "--out", str(tmp_path / "a"),
                 "--quiet"]) == 0
    assert np.load(tmp_path / "a" / "data2_velocity.npy").shape == (3, 1, 70, 70)
    assert main(["predict", "--model", str(folder / "small.onnx"), str(data), "--out", str(tmp_path / "b"),
                 "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["data1_velocity.npy", "data2_velocity.npy"]


def test_plot_writes_a_png(exported, data, tmp_path):
    pytest.importorskip("matplotlib")
    folder, _ = exported
    assert main(["predict", "--model", str(folder / "small.onnx"), str(data / "data2.npy"), "--out",
                 str(tmp_path / "p"), "--plot", "--quiet"]) == 0
    assert (tmp_path / "p" / "data2_velocity.png").read_bytes()[:4] == b"\x89PNG"


def test_refusals_are_one_line_errors_and_write_nothing(exported, data, tmp_path, capsys):
    folder, _ = exported
    model = str(folder / "small.onnx")
    out = tmp_path / "out"
    out.mkdir()
    (out / "data1_velocity.npy").write_bytes(b"user's file")
    assert main(["predict", "--model", model, str(data / "data1.npy"), str(data / "data2.npy"), "--out",
                 str(out), "--quiet"]) == 2
    assert "1 output(s) already exist" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["data1_velocity.npy"]
    assert (out / "data1_velocity.npy").read_bytes() == b"user's file"
    assert main(["predict", "--model", model, str(data / "data1.npy"), "--out", str(out), "--overwrite",
                 "--quiet"]) == 0

    assert main(["export", str(folder / "small.keras"), "--out", model]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err

    np.save(tmp_path / "wrong.npy", np.zeros((2, 1000, 70, 5), np.float32))
    assert main(["predict", "--model", model, str(tmp_path / "wrong.npy"), "--out", str(tmp_path / "w"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "wrong.npy (samples 0-1): seismic has shape (2, 1000, 70, 5)" in err and "np.transpose" in err
    assert not (tmp_path / "w" / "wrong_velocity.npy").exists()

    nan = raw_seismic((5, 1000, 70), batch=2)
    nan[1, 0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    assert main(["predict", "--model", model, str(tmp_path / "nan.npy"), "--out", str(tmp_path / "n"),
                 "--quiet"]) == 2
    assert "nan.npy (samples 0-1): seismic contains NaN or infinite values in sample(s) [1]" in capsys.readouterr().err

    assert main(["predict", "--model", model, str(tmp_path / "missing.npy"), "--out", str(tmp_path / "m")]) == 2
    assert "1 input(s) not found" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path / "missing.onnx"), str(data), "--out", str(tmp_path / "m")]) == 2
    assert "missing.onnx does not exist" in capsys.readouterr().err


def test_same_file_names_from_two_folders_are_refused(exported, data, tmp_path, capsys):
    folder, _ = exported
    other = tmp_path / "other"
    other.mkdir()
    np.save(other / "data1.npy", raw_seismic((5, 1000, 70), batch=1))
    assert main(["predict", "--model", str(folder / "small.onnx"), str(data / "data1.npy"), str(other / "data1.npy"),
                 "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "inputs with the same file name would write the same output" in capsys.readouterr().err


def test_predict_command_never_imports_tensorflow(exported, data, tmp_path):
    folder, _ = exported
    script = textwrap.dedent(f"""
        import sys
        from keras_fwi.cli import main
        code = main(["predict", "--model", {str(folder / "small.onnx")!r}, {str(data)!r},
                     "--out", {str(tmp_path / "tf_free")!r}, "--provider", "cpu", "--quiet"])
        loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras", "tf2onnx"))
        print("CODE", code, "LOADED", loaded)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "CODE 0 LOADED []" in result.stdout, result.stdout + result.stderr


def test_segy_input_is_read_for_the_models_dataset(exported, tmp_path, capsys):
    segyio = pytest.importorskip("segyio")
    folder, model = exported
    gathers = raw_seismic((5, 1000, 70), batch=1, seed=14)[0].transpose(0, 2, 1)  # (shots, receivers, time)
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, np.arange(1000), 5 * 70
    with segyio.create(str(tmp_path / "survey.sgy"), spec) as handle:
        handle.bin.update({segyio.BinField.Interval: 1000, segyio.BinField.Samples: 1000})
        for index in range(5 * 70):
            shot, receiver = divmod(index, 70)
            handle.header[index] = {segyio.TraceField.FieldRecord: shot + 1, segyio.TraceField.GroupX: 10 * receiver,
                                    segyio.TraceField.TRACE_SAMPLE_INTERVAL: 1000,
                                    segyio.TraceField.TRACE_SAMPLE_COUNT: 1000}
            handle.trace[index] = gathers[shot, receiver]
    assert main(["predict", "--model", str(folder / "small.onnx"), str(tmp_path / "survey.sgy"), "--out",
                 str(tmp_path / "s"), "--provider", "cpu", "--quiet"]) == 0
    from keras_fwi.export import Predictor

    expected = Predictor(folder / "small.onnx", providers=["cpu"]).predict(gathers.transpose(0, 2, 1))
    np.testing.assert_allclose(np.load(tmp_path / "s" / "survey_velocity.npy"), expected, atol=0.05, rtol=0)
