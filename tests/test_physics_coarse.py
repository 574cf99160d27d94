"""Coarse-grid stages of keras_fwi.physics.invert (keras_fwi.physics.coarse) on a small survey
(30 x 40 cells of 10 m, 350 steps of 1 ms, 3 sources at depth cell 1 as OpenFWI's)."""

import numpy as np
import pytest
from inversion_support import SURVEY, layers

from keras_fwi.physics import invert, simulate
from keras_fwi.physics.coarse import CoarseGrid, matched_boundary
from keras_fwi.physics.objective import Objective, lowpass, lowpass_gain


def _far(radius: float) -> np.ndarray:
    """(1, shots, 1, receivers) 1 where the receiver is at least ``radius`` cells from the source."""
    offset = np.abs(np.subtract.outer(np.asarray(SURVEY.source_x), np.arange(SURVEY.nx)))
    return (offset >= radius)[None, :, None, :]


def test_coarse_survey_keeps_the_courant_number_and_puts_sources_between_cells():
    grid = CoarseGrid(SURVEY, 2)
    coarse = grid.survey
    assert (coarse.nz, coarse.nx, coarse.nt) == (16, 21, 175)
    assert coarse.dx == 20.0 and coarse.dt == 2e-3
    # fine source (1, 17) lies between coarse rows 0 and 1 and columns 8 and 9: four coarse shots
    shots = set(zip(coarse.source_z, coarse.source_x))
    assert {(0, 8), (0, 9), (1, 8), (1, 9)} <= shots
    assert (0, 2) in shots and (1, 2) in shots  # fine x = 4 is coarse column 2 exactly
    nearest = CoarseGrid(SURVEY, 2, split_sources=False).survey
    assert nearest.shots == 3
    with pytest.raises(ValueError, match="grid factor 20 leaves a 3 x 3 grid"):
        CoarseGrid(SURVEY, 20)


@pytest.mark.parametrize("factor, cutoff", [(2, 8.0), (3, 6.0)])
def test_coarse_data_match_the_fine_simulation_once_low_passed(factor, cutoff):
    """The coarse simulation of a fine layered model, against simulate on the fine grid itself."""
    velocity = layers()
    grid = CoarseGrid(SURVEY, factor)
    fine = lowpass(simulate(velocity, SURVEY), lowpass_gain(SURVEY.nt, SURVEY.dt, cutoff)).numpy()
    coarse = lowpass(grid.simulate(velocity), lowpass_gain(grid.survey.nt, grid.survey.dt, cutoff)).numpy()
    expected = fine[:, :, factor - 1::factor][:, :, :grid.survey.nt]  # fine sample k is at time (k + 1) dt
    assert coarse.shape == expected.shape == (1, 3, 350 // factor, 40)
    mask = _far(factor + 1)
    error = np.linalg.norm((coarse - expected) * mask) / np.linalg.norm(expected * mask)
    assert error < 0.12, error
    # a sample off in time, or amplitudes off by factor^2, would be far worse
    shifted = np.linalg.norm((coarse[:, :, 1:] - expected[:, :, :-1]) * mask) / np.linalg.norm(expected * mask)
    assert shifted > 2 * error


def test_coarse_stage_gradient_matches_finite_differences():
    truth = layers()
    observed = simulate(truth, SURVEY).numpy()
    objective = Objective(observed, SURVEY, 3000.0, tv=0.0, chunk=1)
    objective.set_cutoff(6.0, 2)
    start = layers(depths=(13, 19), speeds=(2100.0, 2500.0, 3300.0)).astype(np.float64)
    total, _, gradient = objective(start)
    direction = np.random.default_rng(3).normal(size=start.shape)
    direction *= (np.arange(SURVEY.nz) < 25)[None, :, None]  # keep away from the bottom edge padding
    h = 20.0  # m/s: float32 data need a large step; the objective is smooth at this scale
    plus = objective(start + h * direction, gradient=False)[0]
    minus = objective(start - h * direction, gradient=False)[0]
    numeric = (plus - minus)[0] / (2 * h)
    analytic = float(np.sum(gradient * direction))
    assert abs(numeric - analytic) <= 0.03 * abs(analytic), (numeric, analytic)
    assert total[0] > 0


def test_coarse_then_fine_stages_lower_misfit_and_error_and_keep_bounds():
    pytest.importorskip("scipy")
    truth = layers()
    observed = simulate(truth, SURVEY).numpy()
    start = layers(speeds=(2300.0, 2300.0, 2900.0))
    result = invert(observed, start, SURVEY, method="lbfgs", frequencies=(6.0, None), grid_factors=(2, 1),
                    iterations=(6, 2), bounds=(1800.0, 3400.0), tv=0.0, true_velocity=truth, progress=False)
    assert result.history["frequency"][:7] == [6.0] * 7
    coarse = np.array([m[0] for m, f in zip(result.history["misfit"], result.history["frequency"]) if f == 6.0])
    assert coarse[-1] < 0.3 * coarse[0]
    assert result.misfit_after[0] < 0.3 * result.misfit_before[0]
    assert result.mae_after[0] < 0.8 * result.mae_before[0]  # 300 -> 215 m/s when written
    assert result.velocity.min() >= 1800.0 and result.velocity.max() <= 3400.0


def test_batch_lbfgs_is_each_model_refined_on_its_own():
    pytest.importorskip("scipy")
    truth = np.concatenate([layers(), layers(depths=(8, 16), speeds=(1800.0, 2400.0, 3000.0))])
    observed = simulate(truth, SURVEY).numpy()
    start = truth + np.float32(150.0)
    options = {"method": "lbfgs", "iterations": 3, "tv": 0.0, "progress": False}
    both = invert(observed, start, SURVEY, true_velocity=truth, **options)
    second = invert(observed[1:], start[1:], SURVEY, true_velocity=truth[1:], **options)
    np.testing.assert_allclose(both.velocity[1], second.velocity[0], rtol=1e-6)
    assert len(both.history["misfit"][0]) == 2 and both.mae_after.shape == (2,)
    assert both.history["mae"][-1][1] == pytest.approx(second.mae_after[0])


def test_a_corrected_coarse_stage_reproduces_the_fine_data_at_its_anchor():
    """After ``correct(v)``, the coarse misfit of the true model against its own fine data is 0 (it is
    not without), and the correction follows the anchor: it is recomputed, not frozen."""
    truth = layers().astype(np.float64)
    objective = Objective(simulate(truth, SURVEY).numpy(), SURVEY, 3000.0, chunk=1)
    objective.set_cutoff(8.0, 2, corrected=True)
    uncorrected = objective(truth, gradient=False)[1][0]
    objective.correct(truth)
    _, misfit, gradient = objective(truth)
    assert uncorrected > 1e-3  # the coarse grid's own error, nearest-cell sources
    assert misfit[0] < 1e-9 and np.abs(gradient).max() < 1e-9
    other = layers(speeds=(2100.0, 2500.0, 3300.0)).astype(np.float64)
    assert objective(other, gradient=False)[1][0] > 1e-3
    objective.set_cutoff(8.0, 2, corrected=True)  # a new stage forgets the correction
    assert objective(truth, gradient=False)[1][0] == pytest.approx(uncorrected)


def test_corrections_keep_a_coarse_stage_at_the_true_model():
    """Started at the truth, an uncorrected coarse stage walks away towards the coarse grid's own
    minimum; with corrections every 2 iterations it stays (its misfit is 0 there)."""
    pytest.importorskip("scipy")
    truth = layers()
    observed = simulate(truth, SURVEY).numpy()
    options = {"method": "lbfgs", "frequencies": (8.0,), "grid_factors": (2,), "iterations": 4, "tv": 0.0,
               "true_velocity": truth, "progress": False}
    drifted = invert(observed, truth, SURVEY, **options)
    anchored = invert(observed, truth, SURVEY, correct_every=2, **options)
    assert drifted.mae_after[0] > 5.0, drifted.mae_after
    assert anchored.mae_after[0] < 0.1 * drifted.mae_after[0], (anchored.mae_after, drifted.mae_after)


@pytest.mark.parametrize("change, message", [
    ({"frequencies": (None,), "grid_factors": (2,)},
     r"grid factor 2 \(cells of 20 m\) needs a low-pass cutoff of at most 15 Hz .* got the full band"),
    ({"frequencies": (20.0,), "grid_factors": (2,)}, r"at most 15 Hz .* got 20 Hz"),
    ({"frequencies": (6.0, None), "grid_factors": (2,)}, "grid_factors gives 1 stages but frequencies 2"),
    ({"frequencies": (6.0,), "grid_factors": (0,)}, "grid_factors must be a positive int"),
    ({"frequencies": (6.0,), "grid_factors": (2,), "correct_every": -1}, "correct_every must be an integer >= 0"),
])
def test_bad_coarse_schedule_is_one_clear_error(change, message):
    observed = np.zeros((1, 3, 350, 40), np.float32)
    with pytest.raises(ValueError, match=message):
        invert(observed, np.full((1, 30, 40), 2000.0), SURVEY, iterations=1, progress=False, **change)


def test_a_corrected_stage_takes_the_thinner_absorbing_layer():
    """``matched_boundary`` is the fine layer's width in metres, at least 6 cells; a corrected coarse
    stage simulates with it and an uncorrected one with the default, twice as wide."""
    survey = SURVEY.replace(boundary=30)
    assert matched_boundary(survey, 2) == 15 and matched_boundary(survey, 4) == 8
    assert matched_boundary(SURVEY.replace(boundary=8), 2) == 6
    assert CoarseGrid(survey, 2).survey.boundary == 30
    assert CoarseGrid(survey, 2, boundary=15).survey.boundary == 15
    with pytest.raises(ValueError, match="boundary must be at least 3 cells"):
        CoarseGrid(survey, 2, boundary=2)
    objective = Objective(np.zeros((1, SURVEY.shots, SURVEY.nt, SURVEY.receivers), np.float32), survey, 3000.0)
    objective.set_cutoff(8.0, 2, corrected=True)
    assert objective._grid.survey.boundary == 15
    objective.set_cutoff(8.0, 2)
    assert objective._grid.survey.boundary == 30
