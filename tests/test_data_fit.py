"""model.fit(openfwi_dataset(...)) trains on OpenFWI-shaped files, and predict takes unlabelled data."""

import keras
import numpy as np
import pytest

import keras_fwi.models
from data_files import write_pair
from keras_fwi.data import denormalize_velocity, get_preset, openfwi_dataset


def test_fit_and_predict_on_openfwi_shaped_files(tmp_path):
    preset = get_preset("flatvel-a")
    pairs = [write_pair(tmp_path, i, samples=3, preset=preset) for i in (1, 2)]
    model = keras_fwi.models.inversionnet(widths=(4, 4, 8, 8, 16))
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-4), loss="mae")
    train = openfwi_dataset(pairs, dataset="flatvel-a", batch_size=2, seed=0, horizontal_flip=True)
    history = model.fit(train, epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1 and np.all(np.isfinite(history.history["loss"]))

    split = tmp_path / "predict.txt"
    split.write_text(f"{pairs[0][0].name}\n")
    unlabelled = openfwi_dataset(split, dataset="flatvel-a", batch_size=2, shuffle=False)
    velocity = denormalize_velocity(model.predict(unlabelled, verbose=0), "flatvel-a")
    assert velocity.shape == (3, 1, 70, 70)
    assert velocity.min() >= 1500 - 1e-3 and velocity.max() <= 4500 + 1e-3  # tanh head → preset range


def _channels_last_setup(tmp_path):
    pairs = [write_pair(tmp_path, 1, samples=2, preset=get_preset("style-a"))]
    model = keras_fwi.models.inversionnet(time_samples=500, widths=(4, 4, 8, 8, 16), data_format="channels_last")
    model.compile(optimizer="adam", loss="mae")
    ds = openfwi_dataset(pairs, dataset="style-a", batch_size=2, sample_temporal=2, data_format="channels_last",
                         cache=True)
    return model, ds


def test_channels_last_with_temporal_sampling_fits_the_model_signature(tmp_path):
    model, ds = _channels_last_setup(tmp_path)
    assert tuple(ds.element_spec[0].shape) == model.input_shape == (None, 500, 70, 5)
    assert tuple(ds.element_spec[1].shape) == model.output_shape == (None, 70, 70, 1)
    assert np.isfinite(model.evaluate(ds, verbose=0))


@pytest.mark.slow
def test_fit_channels_last_with_temporal_sampling(tmp_path):
    model, ds = _channels_last_setup(tmp_path)
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
