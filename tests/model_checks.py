"""What every keras_fwi model must pass: config round trip, safe .keras round trip, tf.data predict."""

import numpy as np
import keras
import tensorflow as tf


def random_seismic(model: keras.Model, batch: int = 2, seed: int = 0) -> np.ndarray:
    """Standard-normal input of ``model``'s input shape with ``batch`` samples."""
    shape = (batch,) + tuple(model.input_shape[1:])
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def run_standard_checks(model: keras.Model, tmp_path) -> None:
    seismic = random_seismic(model)
    expected = model.predict(seismic, verbose=0)

    clone = keras.Model.from_config(model.get_config())
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert clone.count_params() == model.count_params()

    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(restored.predict(seismic, verbose=0), expected, atol=1e-6)

    dataset = tf.data.Dataset.from_tensor_slices(seismic).batch(1)
    np.testing.assert_allclose(model.predict(dataset, verbose=0), expected, atol=1e-5)
