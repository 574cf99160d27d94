import re

import numpy as np
import keras
import pytest

from keras_fwi import models
from keras_fwi.models.inversionnet import encoded_shape
from model_checks import run_standard_checks

TINY = (4, 8, 8, 16, 16)


def trainable_count(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def test_defaults_are_openfwi():
    model = models.inversionnet()
    assert model.input_shape == (None, 5, 1000, 70)
    assert model.output_shape == (None, 1, 70, 70)
    assert trainable_count(model) == 24_409_123
    # OpenFWI's code convolution: 8 × ceil(70 / 8) over the 8 × 9 encoded map.
    assert model.get_layer("convblock8_conv").kernel.shape == (8, 9, 256, 512)
    assert model.get_layer("convblock8_conv").output.shape[1:3] == (1, 1)


def test_pytorch_constants():
    model = models.inversionnet(widths=TINY)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            assert layer.epsilon == 1e-5 and layer.momentum == 0.9
        if isinstance(layer, keras.layers.LeakyReLU):
            assert layer.negative_slope == pytest.approx(0.2)
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            assert layer.padding == "valid", f"{layer.name} must pad explicitly like PyTorch"


def test_non_default_sizes():
    model = models.inversionnet(shots=3, time_samples=500, receivers=35, velocity_shape=(64, 50), widths=TINY)
    assert model.input_shape == (None, 3, 500, 35)
    assert model.output_shape == (None, 1, 64, 50)
    assert encoded_shape(500, 35) == (4, 5)
    assert model.get_layer("convblock8_conv").kernel.shape[:2] == (4, 5)
    out = model.predict(np.zeros((2, 3, 500, 35), "float32"), verbose=0)
    assert out.shape == (2, 1, 64, 50) and np.all(np.abs(out) <= 1)


def test_channels_last_is_the_same_network():
    first = models.inversionnet(widths=TINY)
    last = models.inversionnet(widths=TINY, data_format="channels_last")
    assert last.input_shape == (None, 1000, 70, 5) and last.output_shape == (None, 70, 70, 1)
    last.set_weights(first.get_weights())
    seismic = np.random.default_rng(1).standard_normal((2, 5, 1000, 70)).astype("float32")
    expected = first.predict(seismic, verbose=0)
    got = last.predict(seismic.transpose(0, 2, 3, 1), verbose=0).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_mixed_precision_keeps_float32_output():
    keras.config.set_dtype_policy("mixed_float16")
    model = models.inversionnet(widths=TINY)
    assert model.get_layer("convblock1_conv").compute_dtype == "float16"
    assert model.output.dtype == "float32"
    assert model.predict(np.zeros((1, 5, 1000, 70), "float32"), verbose=0).dtype == np.float32


def test_standard_checks(tmp_path):
    run_standard_checks(models.inversionnet(widths=TINY), tmp_path)


@pytest.mark.parametrize("kwargs, message", [
    ({"shots": 0}, "shots must be a positive int, got 0"),
    ({"receivers": -3}, "receivers must be a positive int, got -3"),
    ({"time_samples": 2.5}, "time_samples must be a positive int"),
    ({"widths": (32, 64)}, "widths must have 5 entries"),
    ({"widths": (32, 64, 0, 256, 512)}, "widths must contain only positive ints"),
    ({"velocity_shape": (90, 70)}, "velocity_shape must be at most (80, 80)"),
    ({"time_samples": 40}, "time_samples=40 is too small for InversionNet's encoder"),
    ({"receivers": 3}, "receivers=3 is too small for InversionNet's encoder"),
    ({"data_format": "NCHW"}, "data_format must be one of 'channels_first', 'channels_last', got 'NCHW'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as info:
        models.inversionnet(**kwargs)
    assert message in str(info.value)


def test_too_small_error_gives_the_minimum():
    with pytest.raises(ValueError, match=r"use at least \d+") as info:
        models.inversionnet(time_samples=40)
    minimum = int(re.search(r"use at least (\d+)", str(info.value)).group(1))
    models.inversionnet(time_samples=minimum, widths=TINY)  # the stated minimum really builds
    with pytest.raises(ValueError):
        models.inversionnet(time_samples=minimum - 1, widths=TINY)
