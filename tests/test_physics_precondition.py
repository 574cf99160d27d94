"""L-BFGS-B's depth preconditioning (``row_units``, ``invert(precondition=...)``) on analytic cases."""

import numpy as np
import pytest

from keras_fwi.physics.optimizers import PRECONDITION_CAP, Recorder, lbfgs_stage, row_units


def test_row_units_follow_the_gradient_rows_with_the_power_and_cap():
    gradient = np.ones((2, 5, 4)) * np.array([1.0, 1e-2, 1e-4, 1e-6, 0.0])[None, :, None]
    gradient[1] *= -3.0  # sign and overall size do not matter
    units = row_units(gradient, 0.5)
    assert units.shape == (2, 5, 1)
    np.testing.assert_allclose(units[:, :, 0], [[1.0, 10.0, PRECONDITION_CAP, PRECONDITION_CAP,
                                                 PRECONDITION_CAP]] * 2)
    np.testing.assert_allclose(row_units(gradient, 0.0), 1.0)
    np.testing.assert_allclose(row_units(np.zeros((1, 3, 2)), 0.5), 1.0)  # no gradient: plain units


class _Quadratic:
    """J(v) = sum_z h_z sum_x (v - v*)^2 per model, h falling 1000x with depth as an FWI gradient does."""

    cutoff = None

    def __init__(self, target: np.ndarray):
        self.target = target
        self.h = np.logspace(0, -3, target.shape[1])[None, :, None] * 1e-6

    def __call__(self, velocity, gradient=True):
        error = velocity - self.target
        total = np.sum(self.h * error ** 2, axis=(1, 2))
        return total, total, (2 * self.h * error if gradient else None)


@pytest.mark.parametrize("power", [0.0, 0.5])
def test_preconditioning_evens_out_a_depth_fading_quadratic(power):
    """With power 1/2 the units make the quadratic's Hessian diagonal even, so L-BFGS-B lands on the
    minimum within a few iterations; without them the deep rows have barely moved."""
    pytest.importorskip("scipy")
    target = np.full((1, 20, 6), 3000.0)
    start = target + 400.0
    recorder = Recorder(None, 4, None, None, progress=False)
    velocity, _ = lbfgs_stage(_Quadratic(target), start, (1500.0, 4500.0), 4, recorder, precondition=power)
    deep = np.abs(velocity - target)[0, 10:].mean()
    if power:
        assert np.abs(velocity - target).max() < 1.0
    else:
        assert deep > 200.0


def test_preconditioned_bounds_hold_per_row():
    """Each row's bounds are divided by its own units, so the box is still the velocity bounds."""
    pytest.importorskip("scipy")
    target = np.full((1, 10, 4), 4400.0)
    target[:, :5] = 1600.0
    recorder = Recorder(None, 6, None, None, progress=False)
    velocity, _ = lbfgs_stage(_Quadratic(target), np.full_like(target, 3000.0), (1800.0, 4000.0), 6, recorder,
                              precondition=1.0)
    assert velocity.min() >= 1800.0 and velocity.max() <= 4000.0
    np.testing.assert_allclose(velocity[0, :5], 1800.0, atol=1.0)
    np.testing.assert_allclose(velocity[0, 5:], 4000.0, atol=1.0)
