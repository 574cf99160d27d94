"""Time gain and time windows of the FWI objective (``time_gain``, ``windows``) on a small survey."""

import numpy as np
import pytest

from keras_fwi.physics import Survey, invert, simulate
from keras_fwi.physics.objective import Objective

SURVEY = Survey(nz=30, nx=40, dx=10.0, nt=350, dt=1e-3, frequency=15.0, source_z=1, source_x=[4, 20, 35],
                receiver_z=1, receiver_x=list(range(40)), boundary=12, velocity_range=(1500.0, 4500.0))


def _layers(speeds=(2000.0, 2600.0, 3200.0)) -> np.ndarray:
    """Flat layers (1, 30, 40) m/s with interfaces at depth cells 10 and 20, written out here."""
    z = np.arange(SURVEY.nz)[:, None]
    layer = (z >= 10).astype(int) + (z >= 20)
    return np.broadcast_to(np.asarray(speeds)[layer], (SURVEY.nz, SURVEY.nx))[None].astype(np.float64)


@pytest.fixture(scope="module")
def data():
    """(truth, observed, simulated data of a model whose deepest layer is 300 m/s slower)."""
    truth = _layers()
    deep = _layers((2000.0, 2600.0, 2900.0))
    return truth, simulate(truth, SURVEY).numpy(), simulate(deep, SURVEY).numpy(), deep


def _weighted_misfit(simulated, observed, weights) -> float:
    """The relative L2 misfit with per-sample weights, written out in NumPy."""
    w = np.asarray(weights, np.float64)[None, None, :, None]
    residual = w * (simulated.astype(np.float64) - observed)
    return float(np.sum(residual ** 2) / np.sum((w * observed.astype(np.float64)) ** 2))


def test_time_gain_matches_a_hand_weighted_misfit_and_weighs_late_reflections_more(data):
    _, observed, simulated, deep = data
    times = (np.arange(SURVEY.nt) + 1) * SURVEY.dt  # sample k is recorded at (k + 1) dt
    record = SURVEY.nt * SURVEY.dt
    misfits = {}
    for power in (0.0, 1.0, 2.0):
        objective = Objective(observed, SURVEY, 3000.0, time_gain=power)
        misfits[power] = float(objective(deep, gradient=False)[1][0])
        expected = _weighted_misfit(simulated, observed, (times / record) ** power)
        assert misfits[power] == pytest.approx(expected, rel=1e-3)
    # the deep layer's change shows only in late reflections: a gain makes it count more, relative to the data
    assert misfits[0.0] < misfits[1.0] < misfits[2.0]
    assert misfits[2.0] > 2.0 * misfits[0.0]


def test_a_window_ignores_the_data_after_its_end(data):
    _, observed, simulated, deep = data
    window = 0.15  # s: sample k counts while (k + 1) dt <= 0.15, i.e. the first 150 samples
    changed_late, changed_early = observed.copy(), observed.copy()
    changed_late[:, :, 150:] += 10.0 * np.abs(observed).max()
    changed_early[:, :, 100] += 0.1 * np.abs(observed).max()
    misfit = {}
    for name, record in (("observed", observed), ("late", changed_late), ("early", changed_early)):
        objective = Objective(record, SURVEY, 3000.0)
        objective.set_cutoff(None, window=window)
        misfit[name] = float(objective(deep, gradient=False)[1][0])
    assert misfit["late"] == pytest.approx(misfit["observed"], rel=1e-6)
    assert abs(misfit["early"] - misfit["observed"]) > 1e-3 * misfit["observed"]
    expected = _weighted_misfit(simulated, observed, np.arange(SURVEY.nt) < 150)
    assert misfit["observed"] == pytest.approx(expected, rel=1e-3)
    # a window on a coarse stage keeps the coarse samples up to the same time
    objective = Objective(observed, SURVEY, 3000.0)
    objective.set_cutoff(6.0, 2, window=window)
    assert int(np.count_nonzero(objective._weights.numpy())) == 75


def test_invert_with_gain_and_windows_reports_the_plain_misfit_and_lowers_it(data):
    truth, observed, _, _ = data
    start = truth + 150.0
    plain = invert(observed, start, SURVEY, iterations=(1,), method="lbfgs", progress=False)
    weighted = invert(observed, start, SURVEY, iterations=(3, 3), frequencies=(8.0, None), windows=(0.2, None),
                      time_gain=2.0, method="lbfgs", progress=False, true_velocity=truth)
    # before and after are the plain full-band misfit, whatever the stages weighed
    assert weighted.misfit_before[0] == pytest.approx(plain.misfit_before[0], rel=1e-5)
    assert weighted.misfit_after[0] < 0.5 * weighted.misfit_before[0]
    assert weighted.mae_after[0] < weighted.mae_before[0]
    assert weighted.history["frequency"][-1] is None
    assert weighted.history["misfit"][-1][0] == pytest.approx(weighted.misfit_after[0], rel=1e-6)


@pytest.mark.parametrize("change, message", [
    (dict(time_gain=-1.0), "time_gain must be a finite number >= 0"),
    (dict(windows=(0.2, 0.3)), "windows gives 2 stages but frequencies 1"),
    (dict(windows=0.0), "windows must be times in s > 0"),
    (dict(windows=("soon",)), "windows must be times in s > 0"),
])
def test_bad_gain_or_window_is_one_clear_error(change, message):
    with pytest.raises(ValueError, match=message):
        invert(np.zeros((1, 3, 350, 40)), np.full((1, 30, 40), 2000.0), SURVEY, progress=False, **change)


def test_lbfgs_memory_reaches_scipy(data):
    truth, observed, _, _ = data
    runs = {memory: invert(observed, truth + 150.0, SURVEY, iterations=4, method="lbfgs", lbfgs_memory=memory,
                           progress=False).velocity for memory in (1, 10)}
    # one curvature pair against ten: the same first step (steepest descent), different ones after it
    assert np.max(np.abs(runs[1] - runs[10])) > 1.0  # m/s
    with pytest.raises(ValueError, match="lbfgs_memory must be a positive int"):
        invert(observed, truth, SURVEY, method="lbfgs", lbfgs_memory=0, progress=False)
