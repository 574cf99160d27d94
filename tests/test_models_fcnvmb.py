import numpy as np
import keras
import pytest

from keras_fwi import models
from model_checks import run_standard_checks

TINY = (4, 8, 16, 32, 64)


def test_defaults_are_the_seg_setting():
    model = models.fcnvmb()
    assert model.input_shape == (None, 29, 400, 301)
    assert model.output_shape == (None, 1, 201, 301)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 31_058_497


def test_skips_are_pooled_outputs_zero_padded_floor_before_ceil_after():
    model = models.fcnvmb(filters=TINY)
    # up1 joins the pooled down1 map (200 × 151) with the 400 × 304 upsampled map.
    concat = model.get_layer("up1_concat")
    skip, upsampled = concat.input
    assert tuple(skip.shape[1:3]) == (400, 304) and tuple(upsampled.shape[1:3]) == (400, 304)
    pad = model.get_layer("up1_skip_pad")
    assert pad.input.shape[1:3] == (200, 151)
    assert tuple(map(tuple, pad.padding)) == ((100, 100), (76, 77))
    assert model.get_layer("up4_skip_pad").input is model.get_layer("down4_pool").output
    assert model.get_layer("crop").cropping == ((1, 198), (1, 2))


def test_ceil_mode_pooling():
    model = models.fcnvmb(filters=TINY)
    sizes = [tuple(model.get_layer(f"down{i}_pool").output.shape[1:3]) for i in range(1, 5)]
    assert sizes == [(200, 151), (100, 76), (50, 38), (25, 19)]


def test_non_default_sizes():
    model = models.fcnvmb(shots=7, time_samples=96, receivers=70, velocity_shape=(70, 70), filters=TINY)
    assert model.input_shape == (None, 7, 96, 70) and model.output_shape == (None, 1, 70, 70)
    out = model.predict(np.zeros((2, 7, 96, 70), "float32"), verbose=0)
    assert out.shape == (2, 1, 70, 70)


def test_channels_last_is_the_same_network():
    first = models.fcnvmb(shots=3, time_samples=64, receivers=48, velocity_shape=(40, 40), filters=TINY)
    last = models.fcnvmb(shots=3, time_samples=64, receivers=48, velocity_shape=(40, 40), filters=TINY,
                         data_format="channels_last")
    last.set_weights(first.get_weights())
    seismic = np.random.default_rng(2).standard_normal((2, 3, 64, 48)).astype("float32")
    np.testing.assert_allclose(last.predict(seismic.transpose(0, 2, 3, 1), verbose=0).transpose(0, 3, 1, 2),
                               first.predict(seismic, verbose=0), atol=1e-5)


def test_mixed_precision_keeps_float32_output():
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = models.fcnvmb(shots=3, time_samples=64, receivers=48, velocity_shape=(40, 40), filters=TINY)
    assert model.get_layer("down1_conv1_conv").compute_dtype == "bfloat16"
    assert model.output.dtype == "float32"


def test_standard_checks(tmp_path):
    run_standard_checks(models.fcnvmb(shots=3, time_samples=64, receivers=48, velocity_shape=(40, 40),
                                      filters=TINY), tmp_path)


@pytest.mark.parametrize("kwargs, message", [
    ({"shots": 0}, "shots must be a positive int, got 0"),
    ({"filters": (64, 128, 256, 512)}, "filters must have 5 entries"),
    ({"filters": (4, 8, 8, 16, 16)}, "filters must double from level to level"),
    ({"velocity_shape": (201, -1)}, "velocity_shape must contain only positive ints"),
    ({"time_samples": 100}, "time_samples=100 is too small for velocity_shape=(201, 301)"),
    ({"receivers": 200}, "receivers=200 is too small for velocity_shape=(201, 301)"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as info:
        models.fcnvmb(**kwargs)
    assert message in str(info.value)


def test_build_by_name():
    assert models.build("fcnvmb", filters=TINY, shots=2, time_samples=32, receivers=32,
                        velocity_shape=(20, 20)).output_shape == (None, 1, 20, 20)
    with pytest.raises(ValueError, match="unknown architecture 'unet'; choose one of"):
        models.build("unet")
