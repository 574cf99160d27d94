"""Velocity-model families: ranges, per-sample seeding, distinct samples, family traits, smoothing."""

import numpy as np
import pytest

from keras_fwi.cli.generate import _FAMILIES
from keras_fwi.physics.families import FAMILIES, V_MAX, V_MIN, smooth_model, velocity_model, velocity_models


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_range_shape_and_distinct_samples(family):
    models = velocity_models(family, 30, seed=7)
    assert models.shape == (30, 70, 70) and models.dtype == np.float32
    assert models.min() >= V_MIN and models.max() <= V_MAX
    assert len({model.tobytes() for model in models}) == 30
    assert all(len(np.unique(model)) >= 2 for model in models)  # at least one interface


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_sample_depends_only_on_seed_family_and_index(family):
    batch = velocity_models(family, 5, seed=3, start=10)
    np.testing.assert_array_equal(batch[2], velocity_model(family, 12, seed=3))
    assert not np.array_equal(velocity_model(family, 12, seed=3), velocity_model(family, 12, seed=4))


def test_families_differ_under_the_same_seed():
    assert not np.array_equal(velocity_model("flatvel-a", 0), velocity_model("curvevel-a", 0))


@pytest.mark.parametrize("family", ["flatvel-a", "curvevel-a"])
def test_a_families_increase_with_depth(family):
    for model in velocity_models(family, 20, seed=1):
        assert np.all(np.diff(model, axis=0) >= 0)


def test_flat_families_are_laterally_constant_and_curved_ones_are_not():
    for model in velocity_models("flatvel-b", 10):
        assert np.all(model == model[:, :1])
    assert any(not np.all(model == model[:, :1]) for model in velocity_models("curvevel-b", 10))


def test_b_family_has_velocity_inversions():
    inversions = [np.any(np.diff(model[:, 0]) < 0) for model in velocity_models("flatvel-b", 20)]
    assert any(inversions)


def test_faults_break_flat_layers():
    # A flat model cut by a fault is no longer laterally constant.
    assert all(not np.all(model == model[:, :1]) for model in velocity_models("flatfault-a", 10))


def test_salt_bodies_are_fast():
    for model in velocity_models("salt", 10):
        assert np.mean(model >= 4400) > 0.01


def test_other_shapes_and_smoothing():
    model = velocity_model("salt", 0, shape=(40, 60))
    assert model.shape == (40, 60)
    smooth = velocity_model("salt", 0, shape=(40, 60), smooth=4.0)
    assert smooth.shape == (40, 60) and smooth.dtype == np.float32
    assert np.abs(np.diff(smooth, axis=1)).max() < np.abs(np.diff(model, axis=1)).max()
    np.testing.assert_allclose(smooth_model(np.full((5, 5), 2000.0), 1.0), 2000.0)


def test_cli_choices_list_every_family():
    assert set(_FAMILIES) == set(FAMILIES)


@pytest.mark.parametrize("kwargs, message", [
    (dict(family="flatvel-c", index=0), "family must be one of"),
    (dict(family="salt", index=-1), "index must be a non-negative int, got -1"),
    (dict(family="salt", index=0, seed=1.5), "seed must be a non-negative int, got 1.5"),
    (dict(family="salt", index=0, shape=(70,)), "shape must have 2 entries"),
    (dict(family="salt", index=0, smooth=0), "smooth must be a positive Gaussian sigma"),
])
def test_bad_arguments_are_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        velocity_model(**kwargs)


@pytest.mark.parametrize("family", ["flatvel-a", "curvevel-b", "salt"])
def test_shallow_models_are_drawn_without_hanging(family):
    """A 12-cell-deep model leaves little room for 6 layers: the draw must still end, layered."""
    maps = np.stack([velocity_model(family, index, seed=3, shape=(12, 20)) for index in range(30)])
    assert maps.shape == (30, 12, 20) and np.isfinite(maps).all()
    assert all(len(np.unique(m)) >= 2 for m in maps)
