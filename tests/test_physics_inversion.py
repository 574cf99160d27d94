"""keras_fwi.physics.invert and its objective on small grids (30 x 40 cells, 350 steps)."""

import numpy as np
import pytest

from keras_fwi.physics import Survey, invert, simulate
from keras_fwi.physics.objective import (lateral_penalty, lowpass, lowpass_gain, smoothness_penalty,
                                         total_variation)

SURVEY = Survey(nz=30, nx=40, dx=10.0, nt=350, dt=1e-3, frequency=15.0, source_z=1, source_x=[4, 20, 35],
                receiver_z=1, receiver_x=list(range(40)), boundary=12, velocity_range=(1500.0, 4500.0))


def _layers(depths=(10, 20), speeds=(2000.0, 2600.0, 3200.0)) -> np.ndarray:
    """Flat layers (1, 30, 40) in m/s, written out here rather than taken from physics.families."""
    z = np.arange(SURVEY.nz)[:, None]
    layer = (z >= depths[0]).astype(int) + (z >= depths[1])
    return np.broadcast_to(np.asarray(speeds)[layer], (SURVEY.nz, SURVEY.nx))[None].astype(np.float32)


def test_lowpass_is_a_zero_phase_butterworth():
    scipy_signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(0)
    nt, dt, cutoff = 400, 1e-3, 12.0
    trace = rng.normal(size=nt) * np.sin(np.linspace(0, np.pi, nt)) ** 4
    ours = lowpass(trace[None, None, :, None], lowpass_gain(nt, dt, cutoff)).numpy()[0, 0, :, 0]
    # SciPy's forward-backward Butterworth on the trace with silence around it (as our padding assumes).
    sos = scipy_signal.butter(4, cutoff, fs=1 / dt, output="sos")
    theirs = scipy_signal.sosfiltfilt(sos, np.pad(trace, 1000), padtype=None)[1000:1000 + nt]
    assert np.max(np.abs(ours - theirs)) <= 5e-3 * np.max(np.abs(theirs))
    assert lowpass_gain(nt, dt, None) is None
    with pytest.raises(ValueError, match="Nyquist"):
        lowpass_gain(nt, dt, 600.0)


def test_regularisers_match_numpy():
    u = np.random.default_rng(1).normal(size=(2, 5, 6))
    dz = np.zeros_like(u)
    dx = np.zeros_like(u)
    dz[:, :-1] = u[:, 1:] - u[:, :-1]
    dx[:, :, :-1] = u[:, :, 1:] - u[:, :, :-1]
    np.testing.assert_allclose(total_variation(u).numpy(), np.sqrt(dz ** 2 + dx ** 2 + 1e-6).mean(axis=(1, 2)),
                               rtol=1e-5)
    np.testing.assert_allclose(smoothness_penalty(u).numpy(), (dz ** 2 + dx ** 2).mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(total_variation(u, 3.0).numpy(), np.sqrt(dz ** 2 + 9 * dx ** 2 + 1e-6).mean(axis=(1, 2)),
                               rtol=1e-5)
    np.testing.assert_allclose(smoothness_penalty(u, 3.0).numpy(), (dz ** 2 + 9 * dx ** 2).mean(axis=(1, 2)),
                               rtol=1e-5)
    np.testing.assert_allclose(lateral_penalty(u).numpy(), (dx ** 2).mean(axis=(1, 2)), rtol=1e-5)


def test_misfit_decreases_monotonically_with_lbfgs():
    pytest.importorskip("scipy")
    truth = _layers()
    observed = simulate(truth, SURVEY).numpy()
    start = np.full_like(truth, 2500.0)
    start[:, 12:] = 2900.0
    result = invert(observed, start, SURVEY, iterations=6, method="lbfgs", progress=False, true_velocity=truth)
    misfit = np.array(result.history["misfit"])[:, 0]
    assert len(misfit) >= 4
    assert np.all(np.diff(misfit) <= 1e-6 * misfit[0])
    assert result.misfit_after[0] < 0.5 * result.misfit_before[0]
    assert result.mae_after[0] < result.mae_before[0]


def test_models_refined_side_by_side_match_each_refined_alone():
    """With L-BFGS-B the models of a batch run concurrently, one per core (each simulating all its
    shots in one program); alone, a model splits its shots over the cores. Only rounding differs."""
    pytest.importorskip("scipy")
    truth = np.concatenate([_layers(), _layers((8, 17), (1800.0, 2500.0, 3400.0))])
    observed = simulate(truth, SURVEY).numpy()
    start = truth + np.array([150.0, -120.0])[:, None, None]
    options = {"iterations": 4, "method": "lbfgs", "progress": False}
    together = invert(observed, start, SURVEY, true_velocity=truth, **options)
    for i in range(2):
        alone = invert(observed[i:i + 1], start[i:i + 1], SURVEY, true_velocity=truth[i:i + 1], **options)
        np.testing.assert_allclose(together.velocity[i], alone.velocity[0], atol=0.5)
        assert together.mae_after[i] == pytest.approx(alone.mae_after[0], abs=0.05)
        assert together.mae_after[i] < together.mae_before[i]


def test_adam_lowers_misfit_and_error_for_each_model_of_a_batch():
    truth = np.concatenate([_layers(), _layers((8, 18), (1800.0, 2400.0, 3000.0))])
    observed = simulate(truth, SURVEY).numpy()
    start = truth + np.array([200.0, -200.0], np.float32)[:, None, None]
    result = invert(observed, start, SURVEY, iterations=12, learning_rate=20.0, progress=False,
                    true_velocity=truth, batch_size=1)
    assert result.velocity.shape == (2, 30, 40) and result.velocity.dtype == np.float32
    assert np.all(result.misfit_after < 0.5 * result.misfit_before)
    assert np.all(result.mae_after < result.mae_before)
    assert len(result.history["mae"]) == 13  # iterations 0..12, the last one evaluated after the loop


@pytest.mark.parametrize("method", ["adam", "lbfgs"])
def test_bounds_hold(method):
    pytest.importorskip("scipy")
    truth = _layers(speeds=(1600.0, 2600.0, 3400.0))
    observed = simulate(truth, SURVEY).numpy()
    start = np.full_like(truth, 1900.0)
    result = invert(observed, start, SURVEY, iterations=5, method=method, learning_rate=200.0,
                    bounds=(1800.0, 2700.0), progress=False)
    assert result.velocity.min() >= 1800.0 and result.velocity.max() <= 2700.0
    assert result.velocity.max() > 1900.0  # it moved, towards the faster truth, up to the bound


def test_total_variation_removes_noise_from_a_blocky_model():
    truth = _layers()
    observed = simulate(truth, SURVEY).numpy()
    noisy = truth + np.random.default_rng(2).normal(0, 80.0, truth.shape).astype(np.float32)
    plain = invert(observed, noisy, SURVEY, iterations=10, progress=False, true_velocity=truth)
    with_tv = invert(observed, noisy, SURVEY, iterations=10, tv=1.0, progress=False, true_velocity=truth)
    assert total_variation(with_tv.velocity / 3000.0)[0] < 0.6 * total_variation(noisy / 3000.0)[0]
    assert with_tv.mae_after[0] < 0.8 * plain.mae_after[0]
    assert with_tv.mae_after[0] < 0.8 * with_tv.mae_before[0]


def test_lateral_smoothness_removes_lateral_noise_and_keeps_the_layers():
    truth = _layers()
    observed = simulate(truth, SURVEY).numpy()
    noisy = truth + np.random.default_rng(3).normal(0, 80.0, truth.shape).astype(np.float32)
    runs = {weight: invert(observed, noisy, SURVEY, iterations=10, tv=0.1, lateral_smoothness=weight, method="lbfgs",
                           progress=False, true_velocity=truth) for weight in (0.0, 10.0)}
    lateral_noise = {k: float(np.std(run.velocity[0], axis=1).mean()) for k, run in runs.items()}  # m/s, along x
    assert lateral_noise[10.0] < 0.7 * lateral_noise[0.0]
    assert runs[10.0].mae_after[0] < 0.8 * runs[0.0].mae_after[0]
    profile = runs[10.0].velocity[0].mean(axis=1)  # the vertical contrasts (600 m/s each) survive
    assert profile[14] - profile[6] > 550.0 and profile[25] - profile[15] > 550.0


def test_tv_per_stage():
    truth = _layers()
    observed = simulate(truth, SURVEY).numpy()
    result = invert(observed, truth + 150.0, SURVEY, iterations=(1, 1), frequencies=(8.0, None), tv=(50.0, 0.0),
                    progress=False)
    history = result.history
    # the first stage's objective holds 50 x TV on top of the misfit; the full-band stage none
    tv_start = 50.0 * float(total_variation((truth + 150.0)[:, :, :] / 3000.0)[0])
    assert history["objective"][0][0] - history["misfit"][0][0] == pytest.approx(tv_start, rel=1e-3)
    assert history["objective"][-1][0] == pytest.approx(history["misfit"][-1][0], rel=1e-6)
    with pytest.raises(ValueError, match="tv gives 3 stages but frequencies 2"):
        invert(observed, truth, SURVEY, iterations=2, frequencies=(8.0, None), tv=(1.0, 1.0, 1.0), progress=False)


def test_multiscale_history_and_stopping():
    truth = _layers()
    observed = simulate(truth, SURVEY).numpy()
    result = invert(observed, truth + 150.0, SURVEY, iterations=(2, 2), frequencies=(8.0, None), progress=False)
    assert result.history["frequency"] == [8.0, 8.0, None, None, None]
    assert result.history["iteration"] == [0, 1, 2, 3, 4]
    stopped = invert(observed, truth + 150.0, SURVEY, iterations=50, target_misfit=10.0, progress=False)
    assert stopped.stopped == "misfit" and stopped.history["iteration"][-1] == 0
    timed = invert(observed, truth + 150.0, SURVEY, iterations=50, time_limit=0.0, progress=False)
    assert timed.stopped == "time"


@pytest.mark.parametrize("change, message", [
    (dict(observed=np.zeros((1, 3, 350, 39))), r"observed must have shape \(batch, 3, 350, 40\)"),
    (dict(initial=np.full((1, 30, 41), 2000.0)), r"initial must have shape \(batch, 30, 40\)"),
    (dict(initial=np.full((2, 30, 40), 2000.0)), "initial has 2 models but observed has 1"),
    (dict(initial=np.full((1, 30, 40), np.nan)), "initial must be finite and positive"),
    (dict(observed=np.full((1, 3, 350, 40), np.nan)), "observed contains NaN"),
    (dict(bounds=(1500.0, 9000.0)), "unstable time step"),
    (dict(method="sgd"), "method must be one of"),
    (dict(tv=-1.0), "tv must be a finite number >= 0"),
    (dict(lateral=0.0), "lateral must be a finite number > 0"),
    (dict(lateral_smoothness=-1.0), "lateral_smoothness must be a finite number >= 0"),
    (dict(precondition=float("nan")), "precondition must be a finite number >= 0"),
    (dict(precondition=-0.5), "precondition must be a finite number >= 0"),
])
def test_bad_input_is_one_clear_error(change, message):
    arguments = dict(observed=np.zeros((1, 3, 350, 40)), initial=np.full((1, 30, 40), 2000.0), method="adam")
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        invert(arguments.pop("observed"), arguments.pop("initial"), SURVEY, progress=False, **arguments)


def test_lbfgs_without_scipy_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    with pytest.raises(ImportError, match="pip install scipy"):
        invert(np.zeros((1, 3, 350, 40)), np.full((1, 30, 40), 2000.0), SURVEY, method="lbfgs", progress=False)
