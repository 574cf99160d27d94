"""``keras_fwi refine`` on a small survey (30 x 40 cells, 350 steps) written to a JSON file."""

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from keras_fwi.cli import main
from keras_fwi.physics import Survey, simulate

SURVEY = Survey(nz=30, nx=40, dx=10.0, nt=350, dt=1e-3, frequency=15.0, source_z=1, source_x=[4, 20, 35],
                receiver_z=1, receiver_x=list(range(40)), boundary=12)
DEPTHS = (10, 20)
SPEEDS = (2000.0, 2700.0, 3300.0)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """Files of a flat three-layer model: survey.json, seismic.npy, truth.npy, start.npy (smoothed truth)."""
    folder = tmp_path_factory.mktemp("refine_case")
    z = np.arange(SURVEY.nz)[:, None]
    speeds = np.array(SPEEDS)
    truth = np.broadcast_to(speeds[(z >= DEPTHS[0]).astype(int) + (z >= DEPTHS[1])], (SURVEY.nz, SURVEY.nx))
    truth = truth[None, None].astype(np.float32)  # OpenFWI's (N, 1, nz, nx)
    start = gaussian_filter(truth[0, 0].astype(np.float64), 3.0, mode="nearest")[None].astype(np.float32)
    paths = {name: folder / f"{name}.npy" for name in ("seismic", "truth", "start")}
    np.save(paths["seismic"], simulate(truth, SURVEY).numpy())
    np.save(paths["truth"], truth)
    np.save(paths["start"], start)
    paths["survey"] = folder / "survey.json"
    paths["survey"].write_text(json.dumps(SURVEY.to_dict()))
    return paths


def _refine(case, out, *extra):
    return main(["refine", str(case["seismic"]), "--init", str(case["start"]), "--survey", str(case["survey"]),
                 "--out", str(out), "--quiet", *extra])


def _transition(profile: np.ndarray, low: float, high: float) -> tuple[int, int]:
    """(first depth at or past the middle of low..high, cells from 10 % to 90 % of the jump) of a profile."""
    reached = lambda fraction: int(np.argmax(profile >= low + fraction * (high - low)))  # noqa: E731
    return reached(0.5), reached(0.9) - reached(0.1)


def test_refine_recovers_flat_interfaces(case, tmp_path):
    # the default stages (low-passed on coarse grids with corrections, a block stage, then the full band),
    # a few iterations in all but the last
    assert _refine(case, tmp_path, "--labels", str(case["truth"]), "--iterations", "4,4,4,4,25") == 0
    refined = np.load(tmp_path / "velocity.npy", allow_pickle=False)
    truth = np.load(case["truth"])
    start = np.load(case["start"])
    assert refined.shape == (1, 1, 30, 40) and refined.dtype == np.float32
    # Each interface is where it should be and at most 4 cells wide (10-90 %); the start smears it over 7.
    for depth, low, high in zip(DEPTHS, SPEEDS[:-1], SPEEDS[1:]):
        assert _transition(start[0].mean(axis=-1), low, high)[1] >= 6
        position, width = _transition(refined[0, 0].mean(axis=-1), low, high)
        assert abs(position - depth) <= 1 and width <= 4
    report = json.loads((tmp_path / "refine.json").read_text())
    summary = report["summary"]
    assert summary["mae_after"] < 0.8 * summary["mae_before"]
    assert summary["mae_before"] == pytest.approx(float(np.abs(start[0] - truth[0, 0]).mean()), rel=1e-4)
    assert summary["misfit_after"] < summary["misfit_before"]
    assert len(report["history"]["mae"]) == 4 * 5 + 26 and report["settings"]["survey"]["nx"] == 40
    assert report["settings"]["grid_factors"] == [4, 2, 2, 2, 1] and report["history"]["frequency"][0] == 4.0
    assert report["settings"]["blocks"] == [0, 0, 0, 8, 0] and report["settings"]["correct_every"] == 10
    assert report["settings"]["tv"] == 0.1
    assert (tmp_path / "refine.png").stat().st_size > 0


def test_regularisation_options_reach_the_inversion(case, tmp_path):
    start = np.load(case["start"])[0] + 150.0 * np.sin(np.arange(SURVEY.nx) / 4.0)  # m/s, varies along x
    np.save(tmp_path / "start.npy", start[None].astype(np.float32))
    assert main(["refine", str(case["seismic"]), "--init", str(tmp_path / "start.npy"), "--survey",
                 str(case["survey"]), "--out", str(tmp_path / "out"), "--quiet", "--frequencies", "8,full",
                 "--grid-factors", "1,1", "--iterations", "1,1", "--tv", "0.3,0", "--lateral", "2",
                 "--lateral-smoothness", "5"]) == 0
    report = json.loads((tmp_path / "out" / "refine.json").read_text())
    settings, history = report["settings"], report["history"]
    assert (settings["tv"], settings["lateral"], settings["lateral_smoothness"]) == ([0.3, 0.0], 2.0, 5.0)
    # the first stage's objective is the misfit plus 0.3 x TV (x differences weighted 2) plus 5 x lateral term
    start = start.astype(np.float32) / 3000.0  # u: m/s over the bounds' width (flatvel-a's), as objective.py says
    dz = np.diff(start, axis=0, append=start[-1:])
    dx = np.diff(start, axis=1, append=start[:, -1:])
    expected_tv = 0.3 * np.mean(np.sqrt(dz ** 2 + 4 * dx ** 2 + 1e-6))
    lateral = 5.0 * np.mean(dx ** 2)
    assert history["objective"][0][0] - history["misfit"][0][0] == pytest.approx(expected_tv + lateral, rel=1e-3)


def test_time_gain_and_windows_reach_the_inversion(case, tmp_path):
    assert _refine(case, tmp_path, "--frequencies", "full", "--iterations", "1",
                   "--time-gain", "2", "--windows", "0.2", "--lbfgs-memory", "7", "--precondition", "0.25") == 0
    report = json.loads((tmp_path / "refine.json").read_text())
    settings = report["settings"]
    assert (settings["time_gain"], settings["windows"], settings["lbfgs_memory"]) == (2.0, [0.2], 7)
    assert settings["precondition"] == 0.25
    # other stages than the default's: no coarse grid, no blocks
    assert settings["grid_factors"] is None and settings["blocks"] is None
    observed = np.load(case["seismic"]).astype(np.float64)
    residual = simulate(np.load(case["start"]), SURVEY).numpy().astype(np.float64) - observed
    # the stage's misfit of the start: (t / T)^2 gain, samples after 0.2 s left out; written out here
    times = (np.arange(SURVEY.nt) + 1) * SURVEY.dt
    weight = np.where(times <= 0.2, (times / (SURVEY.nt * SURVEY.dt)) ** 2, 0.0)[None, None, :, None]
    weighted = np.sum((weight * residual) ** 2) / np.sum((weight * observed) ** 2)
    plain = np.sum(residual ** 2) / np.sum(observed ** 2)
    assert abs(weighted - plain) > 0.1 * plain  # the two checks below can tell them apart
    assert report["history"]["misfit"][0][0] == pytest.approx(weighted, rel=1e-3)
    assert report["summary"]["misfit_before"] == pytest.approx(plain, rel=1e-3)  # the report stays plain L2


def _nothing_written(out) -> bool:
    return not out.exists() or not any(out.iterdir())


def test_shape_mismatch_with_the_survey_is_refused(case, tmp_path, capsys):
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((1, 3, 350, 39), np.float32))
    out = tmp_path / "out"
    assert main(["refine", str(wrong), "--init", str(case["start"]), "--survey", str(case["survey"]),
                 "--out", str(out), "--quiet"]) == 2
    assert "the survey records (3, 350, 40)" in capsys.readouterr().err
    assert _nothing_written(out)
    assert main(["refine", str(case["seismic"]), "--init", str(wrong), "--survey", str(case["survey"]),
                 "--out", str(out), "--quiet"]) == 2
    assert "--init" in capsys.readouterr().err and _nothing_written(out)


def test_nan_seismic_is_refused(case, tmp_path, capsys):
    bad = tmp_path / "nan.npy"
    seismic = np.load(case["seismic"])
    seismic[0, 1, 5, 5] = np.nan
    np.save(bad, seismic)
    out = tmp_path / "out"
    assert main(["refine", str(bad), "--init", str(case["start"]), "--survey", str(case["survey"]),
                 "--out", str(out), "--quiet"]) == 2
    assert "NaN" in capsys.readouterr().err and _nothing_written(out)


def test_unstable_time_step_is_refused(case, tmp_path, capsys):
    unstable = tmp_path / "unstable.json"
    unstable.write_text(json.dumps({**SURVEY.to_dict(), "dt": 3e-3}))
    out = tmp_path / "out"
    assert main(["refine", str(case["seismic"]), "--init", str(case["start"]), "--survey", str(unstable),
                 "--out", str(out), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "unstable time step" in error and error.count("\n") == 1
    assert _nothing_written(out)


def test_existing_output_is_not_overwritten(case, tmp_path, capsys):
    (tmp_path / "velocity.npy").write_bytes(b"mine")
    assert _refine(case, tmp_path, "--iterations", "1") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "velocity.npy").read_bytes() == b"mine"
    assert not (tmp_path / "refine.json").exists()
    assert _refine(case, tmp_path, "--iterations", "1", "--overwrite") == 0
    assert np.load(tmp_path / "velocity.npy").shape == (1, 1, 30, 40)


@pytest.mark.slow  # compiles the 70 x 70 x 1000-step simulator (minutes on a loaded 2-core machine)
def test_model_start_is_the_networks_prediction_in_m_per_s(tmp_path):
    """--model with a .keras network: the start (MAE before) is its prediction on OpenFWI-normalised data."""
    from keras_fwi.data import get_preset
    from keras_fwi.models import inversionnet

    preset = get_preset("flatvel-a")
    survey = Survey.openfwi(boundary=12)
    (tmp_path / "survey.json").write_text(json.dumps(survey.to_dict()))
    model = inversionnet(widths=(2, 2, 2, 2, 2))
    model.save(tmp_path / "net.keras")
    seismic = np.random.default_rng(0).normal(0, 5, (1, 5, 1000, 70)).astype(np.float32)
    truth = np.full((1, 1, 70, 70), 3000.0, np.float32)
    np.save(tmp_path / "seismic.npy", seismic)
    np.save(tmp_path / "truth.npy", truth)
    assert main(["refine", str(tmp_path / "seismic.npy"), "--model", str(tmp_path / "net.keras"), "--survey",
                 str(tmp_path / "survey.json"), "--labels", str(tmp_path / "truth.npy"), "--iterations", "1",
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    # OpenFWI's normalisation written out: log1p compression, then [data_min, data_max] -> [-1, 1].
    squash = lambda x: np.sign(x) * np.log1p(np.abs(x))
    low, high = squash(preset.data_min), squash(preset.data_max)
    normalised = (squash(seismic) - low) / (high - low) * 2 - 1
    output = model.predict(normalised, verbose=0)[:, 0]
    expected = (output + 1) / 2 * (preset.label_max - preset.label_min) + preset.label_min
    expected = np.clip(expected, preset.label_min, preset.label_max)
    summary = json.loads((tmp_path / "out" / "refine.json").read_text())["summary"]
    assert summary["mae_before"] == pytest.approx(float(np.abs(expected - 3000.0).mean()), rel=1e-3)


def _expected_start(model, seismic: np.ndarray) -> np.ndarray:
    """The network's m/s prediction with OpenFWI's flatvel-a normalisation written out (as above)."""
    from keras_fwi.data import get_preset

    preset = get_preset("flatvel-a")
    squash = lambda x: np.sign(x) * np.log1p(np.abs(x))  # noqa: E731
    low, high = squash(preset.data_min), squash(preset.data_max)
    output = model.predict((squash(seismic) - low) / (high - low) * 2 - 1, verbose=0)[:, 0]
    expected = (output + 1) / 2 * (preset.label_max - preset.label_min) + preset.label_min
    return np.clip(expected, preset.label_min, preset.label_max)


@pytest.fixture(scope="module")
def onnx_network(tmp_path_factory):
    """A small calibrated InversionNet exported twice: normalised I/O with metadata, and raw I/O (m/s out)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    from export_support import small_inversionnet

    from keras_fwi.export import export_onnx

    folder = tmp_path_factory.mktemp("refine_onnx")
    model = small_inversionnet()
    export_onnx(model, folder / "plain.onnx", dataset="flatvel-a")
    export_onnx(model, folder / "raw.onnx", dataset="flatvel-a", raw_io=True)
    return model, folder


@pytest.mark.parametrize("name", ["plain.onnx", "raw.onnx"])
def test_onnx_model_start_is_the_networks_prediction_in_m_per_s(onnx_network, name):
    from keras_fwi.physics.refine import predict_start

    model, folder = onnx_network
    seismic = np.random.default_rng(2).normal(0, 5, (2, 5, 1000, 70)).astype(np.float32)
    start = predict_start(folder / name, seismic, "flatvel-a", Survey.openfwi())
    expected = _expected_start(model, seismic)
    assert start.shape == (2, 70, 70) and expected.std() > 50.0  # a network whose output varies
    np.testing.assert_allclose(start, expected, atol=1e-4 * 3000.0)


@pytest.mark.slow  # the 70 x 70 x 1000-step simulator (minutes on a loaded 2-core machine)
def test_refine_cli_accepts_an_onnx_model(onnx_network, tmp_path):
    model, folder = onnx_network
    survey = Survey.openfwi()
    (tmp_path / "survey.json").write_text(json.dumps(survey.to_dict()))
    seismic = np.random.default_rng(0).normal(0, 5, (1, 5, 1000, 70)).astype(np.float32)
    np.save(tmp_path / "seismic.npy", seismic)
    np.save(tmp_path / "truth.npy", np.full((1, 1, 70, 70), 3000.0, np.float32))
    assert main(["refine", str(tmp_path / "seismic.npy"), "--model", str(folder / "raw.onnx"), "--survey",
                 str(tmp_path / "survey.json"), "--labels", str(tmp_path / "truth.npy"), "--iterations", "1",
                 "--frequencies", "full", "--grid-factors", "1", "--out", str(tmp_path / "out"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "out" / "refine.json").read_text())["summary"]
    expected = _expected_start(model, seismic)
    assert summary["mae_before"] == pytest.approx(float(np.abs(expected - 3000.0).mean()), rel=1e-3)
    assert np.load(tmp_path / "out" / "velocity.npy").shape == (1, 1, 70, 70)
