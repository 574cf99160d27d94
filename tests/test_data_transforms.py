"""OpenFWI normalisation: NumPy and TF agree, match OpenFWI's formulas, and invert exactly."""

import numpy as np
import pytest
import tensorflow as tf

from keras_fwi.data import get_preset, tf_transforms, transforms


def _openfwi_seismic(raw, data_min, data_max, k=1.0):
    """OpenFWI's recipe re-computed in float64: log transform, then min-max of the logged range."""
    def log(v):
        return np.log1p(np.abs(k * np.asarray(v, np.float64))) * np.sign(v)
    low, high = log(data_min), log(data_max)
    return ((log(raw) - low) / (high - low) - 0.5) * 2


@pytest.fixture(scope="module")
def raw_seismic():
    rng = np.random.default_rng(0)
    # Heavy-tailed amplitudes spanning flatvel-a's range and beyond, plus exact zeros.
    raw = rng.standard_t(2, size=(3, 5, 200, 70)).astype(np.float32) * 8
    raw[0, 0, :10] = 0.0
    return raw


@pytest.mark.parametrize("name", ["flatvel-a", "curvevel-b", "style-b"])
def test_seismic_matches_openfwi_formula(raw_seismic, name):
    preset = get_preset(name)
    expected = _openfwi_seismic(raw_seismic, preset.data_min, preset.data_max)
    np.testing.assert_allclose(transforms.normalize_seismic(raw_seismic, name), expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(tf_transforms.normalize_seismic(raw_seismic, name).numpy(), expected,
                               atol=1e-5, rtol=0)


def test_range_ends_map_to_minus_one_and_one():
    preset = get_preset("flatvel-b")
    ends = np.array([preset.data_min, preset.data_max], np.float32)
    np.testing.assert_allclose(transforms.normalize_seismic(ends, preset), [-1, 1], atol=1e-6)
    np.testing.assert_allclose(transforms.normalize_velocity(np.array([1500.0, 3000.0, 4500.0]), preset),
                               [-1, 0, 1], atol=1e-12)


def test_numpy_and_tf_agree(raw_seismic):
    np_out = transforms.normalize_seismic(raw_seismic, "flatfault-a")
    tf_out = tf_transforms.normalize_seismic(tf.constant(raw_seismic), "flatfault-a").numpy()
    assert np_out.dtype == tf_out.dtype == np.float32
    np.testing.assert_allclose(np_out, tf_out, atol=2e-6, rtol=0)
    velocity = np.random.default_rng(1).uniform(1500, 4500, (4, 1, 70, 70)).astype(np.float32)
    np.testing.assert_array_equal(transforms.normalize_velocity(velocity, "flatfault-a"),
                                  tf_transforms.normalize_velocity(velocity, "flatfault-a").numpy())


@pytest.mark.parametrize("module", [transforms, tf_transforms], ids=["numpy", "tf"])
def test_inverses_round_trip(raw_seismic, module):
    as_np = np.asarray
    seismic = module.denormalize_seismic(module.normalize_seismic(raw_seismic, "curvefault-a"), "curvefault-a")
    np.testing.assert_allclose(as_np(seismic), raw_seismic, rtol=2e-5, atol=2e-6)
    seismic64 = module.denormalize_seismic(module.normalize_seismic(raw_seismic.astype(np.float64), "style-a"),
                                           "style-a")
    np.testing.assert_allclose(as_np(seismic64), raw_seismic, rtol=1e-12, atol=1e-12)
    velocity = np.random.default_rng(2).uniform(1500, 4500, (2, 1, 70, 70)).astype(np.float32)
    back = module.denormalize_velocity(module.normalize_velocity(velocity, "curvefault-a"), "curvefault-a")
    np.testing.assert_allclose(as_np(back), velocity, rtol=1e-6)


def test_denormalised_prediction_is_in_metres_per_second():
    prediction = np.array([-1.0, 0.0, 1.0], np.float32)  # tanh output range
    np.testing.assert_allclose(transforms.denormalize_velocity(prediction, "style-a"), [1500, 3000, 4500])


def test_integer_input_becomes_float32():
    assert transforms.normalize_velocity(np.array([1500, 4500]), "flatvel-a").dtype == np.float32
    assert tf_transforms.normalize_velocity(tf.constant([1500, 4500]), "flatvel-a").dtype == tf.float32


def test_missing_ranges_are_refused_with_a_fix():
    with pytest.raises(ValueError, match=r"'fcnvmb-simulated' has no seismic range .*data_min=\.\.\."):
        transforms.normalize_seismic(np.ones(3), "fcnvmb-simulated")
    with pytest.raises(ValueError, match=r"'fcnvmb-seg-salt' has no velocity range .*label_min=\.\.\."):
        tf_transforms.normalize_velocity(np.ones(3), "fcnvmb-seg-salt")
