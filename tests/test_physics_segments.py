"""Block (segmented) unknowns of keras_fwi.physics.invert: keras_fwi.physics.segments on small models."""

import numpy as np
import pytest
from inversion_support import SURVEY, layers

from keras_fwi.physics import invert, simulate
from keras_fwi.physics.segments import Blocks, segment

pytest.importorskip("scipy")


def test_segment_finds_the_layers_of_a_noisy_layered_model():
    noisy = layers() + np.random.default_rng(0).normal(0.0, 30.0, (1, 30, 40))
    labels = segment(noisy, 3)
    assert labels.shape == noisy.shape and len(np.unique(labels)) == 3
    for top, bottom in ((0, 11), (11, 21), (21, 30)):
        assert len(np.unique(labels[0, top:bottom])) == 1  # each layer one region
    assert labels[0, 0, 0] != labels[0, 15, 0] != labels[0, 25, 0]


def test_equal_velocities_apart_are_two_regions_and_labels_are_unique_over_the_batch():
    sandwich = layers(speeds=(2000.0, 3000.0, 2000.0))
    labels = segment(np.concatenate([sandwich, layers()]), 2)
    assert len(np.unique(labels[0])) == 3  # two levels, three connected regions
    assert not set(np.unique(labels[0])) & set(np.unique(labels[1]))


def test_blocks_map_region_values_to_cells_and_sum_gradients_per_region():
    truth = layers()
    start = truth + np.random.default_rng(1).normal(0.0, 20.0, truth.shape)
    blocks = Blocks(start, segment(start, 3), (1500.0, 4500.0))
    np.testing.assert_allclose(blocks.velocity(blocks.start), start, atol=1e-9)
    shifted = blocks.velocity(blocks.start + np.array([100.0, 0.0, 0.0]))
    moved = np.abs(shifted - start) > 1e-6
    assert moved[0, :11].all() and not moved[0, 11:].any()  # the region of the top layer, whole
    weights = np.random.default_rng(2).normal(size=start.shape)  # d(sum weights * v) / d values
    expected = [weights[blocks.labels == region].sum() for region in range(len(blocks.start))]
    np.testing.assert_allclose(blocks.gradient(weights), expected)
    assert blocks.velocity(blocks.start + 5000.0).max() == 4500.0  # clipped to the bounds


def test_a_block_stage_moves_whole_layers_to_their_velocities():
    """Interfaces right, every layer 150 m/s too fast: one velocity per layer gets much closer than
    free cells in the same iterations (26 against 99 m/s when written), each layer staying one block."""
    truth = layers()
    observed = simulate(truth, SURVEY).numpy()
    options = {"method": "lbfgs", "iterations": 15, "tv": 0.0, "true_velocity": truth, "progress": False}
    layered = invert(observed, truth + 150.0, SURVEY, blocks=(3,), **options)
    cells = invert(observed, truth + 150.0, SURVEY, **options)
    assert layered.mae_after[0] < 0.3 * layered.mae_before[0], layered.mae_after
    assert layered.mae_after[0] < 0.5 * cells.mae_after[0], (layered.mae_after, cells.mae_after)
    assert np.ptp(layered.velocity[0, :11]) < 1e-3 and np.ptp(layered.velocity[0, 21:]) < 1e-3


@pytest.mark.parametrize("change, message", [
    ({"blocks": (3,), "method": "adam"}, "blocks need method='lbfgs'"),
    ({"blocks": (-1,)}, "blocks must give an integer >= 0 per stage"),
    ({"blocks": (3, 0)}, "blocks gives 2 stages but frequencies 1"),
])
def test_bad_blocks_are_one_clear_error(change, message):
    options = {"method": "lbfgs", **change}
    with pytest.raises(ValueError, match=message):
        invert(np.zeros((1, 3, 350, 40), np.float32), layers(), SURVEY, iterations=1, progress=False, **options)
