"""Full-size OpenFWI survey: amplitudes within OpenFWI's published data range, narrow-boundary error.

Slow (a few seconds per model on 2 CPU cores): run with ``python -m pytest -q -m slow``.
"""

import numpy as np
import pytest

from keras_fwi.physics import Survey, simulate
from keras_fwi.physics.generate import synthesize

pytestmark = pytest.mark.slow

# OpenFWI's dataset_config.json for FlatVel-A: data_min -26.95, data_max 52.77 (over 24,000 samples).
DATA_MIN, DATA_MAX = -26.95, 52.77


@pytest.fixture(scope="module")
def flatvel_a():
    return synthesize("flatvel-a", 4, Survey.openfwi(), seed=0, batch_size=4)


def test_flatvel_a_amplitudes_fit_openfwi_range(flatvel_a):
    seismic, velocity = flatvel_a
    assert seismic.shape == (4, 5, 1000, 70) and velocity.shape == (4, 1, 70, 70)
    assert DATA_MIN <= seismic.min() <= 0.8 * DATA_MIN
    assert 0.8 * DATA_MAX <= seismic.max() <= DATA_MAX


def test_narrow_boundary_changes_the_data_by_a_few_percent(flatvel_a):
    """Measured on these models: 40 cells differ from 120 by 5.8 % relative RMS, at most 1.1 (OpenFWI's
    data span 79.7)."""
    seismic, velocity = flatvel_a
    narrow = simulate(velocity, Survey.openfwi(boundary=40)).numpy()
    relative = np.linalg.norm(narrow - seismic) / np.linalg.norm(seismic)
    assert relative < 0.08
    assert np.abs(narrow - seismic).max() < 0.02 * (DATA_MAX - DATA_MIN)
