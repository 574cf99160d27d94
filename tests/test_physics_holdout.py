"""The independent held-out set (benchmarks/holdout.py): its maps are FlatVel/CurveVel-A-like, and
deepwave's 120-cell-PML data of them agree with keras_fwi's default simulation.

Slow (deepwave at 120 cells: a few seconds per map): run with ``python -m pytest -q -m slow``.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from keras_fwi.physics import Survey, simulate

pytestmark = pytest.mark.slow
pytest.importorskip("deepwave")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
holdout = pytest.importorskip("holdout")


@pytest.mark.parametrize("curved", [False, True])
def test_independent_maps_are_layered_and_in_range(curved):
    rng = np.random.default_rng(5)
    maps = np.stack([holdout.independent_map(rng, curved) for _ in range(50)])
    assert maps.shape == (50, 70, 70) and maps.dtype == np.float32
    assert maps.min() >= 1500 and maps.max() <= 4500
    assert np.all(np.diff(maps, axis=1) >= 0)  # velocity never decreases with depth (the "-A" families)
    layers = [len(np.unique(m)) for m in maps]
    assert min(layers) >= 2 and max(layers) <= 5
    flat = np.all(maps == maps[:, :, :1], axis=(1, 2))
    assert flat.all() if not curved else not flat.any()


def test_deepwave_data_of_independent_maps_match_the_default_simulation():
    rng = np.random.default_rng(6)
    maps = np.stack([holdout.independent_map(rng, curved) for curved in (False, True)])
    theirs = holdout.deepwave_seismic(maps)
    ours = simulate(maps, Survey.openfwi()).numpy()
    relative = np.sqrt(np.sum((ours - theirs) ** 2, axis=(1, 2, 3)) / np.sum(theirs ** 2, axis=(1, 2, 3)))
    assert np.all(relative < 0.007)
