"""keras_fwi.training.loop against Keras' own model.fit: the same weights, history keys and values."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_fwi.training import loop
from keras_fwi.training.callbacks import NaNGuard


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    hidden = keras.layers.BatchNormalization()(keras.layers.Dense(8, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    model.compile(optimizer=keras.optimizers.AdamW(1e-2), loss="mae", metrics=[keras.metrics.RootMeanSquaredError()],
                  jit_compile=False)
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 6)).astype("float32")
    y = np.stack([x[:, :3].sum(1), x[:, 3:].prod(1)], axis=1).astype("float32")
    train = tf.data.Dataset.from_tensor_slices((x[:14], y[:14])).batch(4)  # 4 batches, the last one of 2
    return train, tf.data.Dataset.from_tensor_slices((x[14:], y[14:])).batch(4)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_the_loop_trains_as_fit_does(policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        train, validation = _data()
        expected_model = _model()
        expected = expected_model.fit(train, validation_data=validation, epochs=3, verbose=0, shuffle=False).history
        model = _model()
        strategy = tf.distribute.get_strategy()
        data = loop.EpochData(train.repeat(3), 4, validation.repeat(), validation_steps=2)
        got = loop.run_epochs(model, strategy, data, initial_epoch=0, epochs=3, callbacks=[], verbose=0).history
    finally:
        keras.config.set_dtype_policy(previous)
    assert sorted(got) == sorted(expected) == ["loss", "root_mean_squared_error", "val_loss",
                                               "val_root_mean_squared_error"]
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, err_msg=key)
    for mine, theirs in zip(model.get_weights(), expected_model.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    if policy == "mixed_float16":  # compile wrapped the optimizer: the loss was scaled
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


def test_a_callback_stops_the_loop_after_the_batch():
    train, _ = _data()
    model = _model()
    guard = NaNGuard()
    bad = train.map(lambda x, y: (x, y * np.float32("nan")))
    history = loop.run_epochs(model, tf.distribute.get_strategy(), loop.EpochData(bad.repeat(2), 4), initial_epoch=0,
                              epochs=2, callbacks=[guard], verbose=0)
    assert "the training loss became nan at epoch 1, batch 1" in guard.message
    assert len(history.history["loss"]) == 1  # the epoch ends (its callbacks run) and the run stops
