"""Augmentation: noise at the asked SNR, whole traces dropped at the asked rate, repeatable, training only."""

import numpy as np
import pytest
import tensorflow as tf
from openfwi_files import write_openfwi_files

from keras_fwi.data import Augmentation, normalize_seismic, openfwi_dataset
from keras_fwi.data.augment import augment_seismic


def _gathers(seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.standard_normal((4, 5, 300, 70)) * rng.uniform(0.5, 20, (4, 5, 1, 1)), tf.float32)


def test_noise_has_the_asked_signal_to_noise_ratio_per_gather():
    seismic = _gathers()
    noisy = augment_seismic(seismic, tf.constant([1, 2]), Augmentation(noise_snr_db=10.0)).numpy()
    signal = np.mean(seismic.numpy() ** 2, axis=(2, 3))
    noise = np.mean((noisy - seismic.numpy()) ** 2, axis=(2, 3))
    np.testing.assert_allclose(10 * np.log10(signal / noise), 10.0, atol=0.2)


def test_dropout_zeroes_whole_traces_at_the_asked_rate_and_leaves_the_rest():
    seismic = _gathers()
    dropped = augment_seismic(seismic, tf.constant([3, 4]), Augmentation(trace_dropout=0.3)).numpy()
    zero = np.all(dropped == 0, axis=2)  # (batch, shots, receivers): whole traces
    kept = ~zero
    assert abs(zero.mean() - 0.3) < 0.05  # 1,400 traces: 0.05 is over 4 standard deviations
    np.testing.assert_array_equal(np.transpose(dropped, (0, 1, 3, 2))[kept],
                                  np.transpose(seismic.numpy(), (0, 1, 3, 2))[kept])


def test_same_seed_same_result_other_seed_other_result():
    seismic, both = _gathers(), Augmentation(noise_snr_db=5.0, trace_dropout=0.1)
    first = augment_seismic(seismic, tf.constant([7, 7]), both).numpy()
    np.testing.assert_array_equal(first, augment_seismic(seismic, tf.constant([7, 7]), both).numpy())
    assert not np.array_equal(first, augment_seismic(seismic, tf.constant([7, 8]), both).numpy())


@pytest.mark.parametrize("options, message", [
    (dict(noise_snr_db="high"), "noise_snr_db must be a finite number of dB or None, got 'high'"),
    (dict(noise_snr_db=float("nan")), "noise_snr_db must be a finite number"),
    (dict(trace_dropout=1.0), r"trace_dropout must be a probability in \[0, 1\), got 1.0"),
    (dict(trace_dropout=-0.1), "trace_dropout must be a probability"),
])
def test_bad_settings_are_one_clear_error(options, message):
    with pytest.raises(ValueError, match=message):
        Augmentation(**options)


def test_pipeline_augments_raw_amplitudes_repeatably(tmp_path):
    split = tmp_path / "train.txt"
    split.write_text("\n".join(write_openfwi_files(tmp_path, files=1, per_file=4)) + "\n")
    raw = np.load(tmp_path / "data1.npy")
    plain = next(iter(openfwi_dataset(split, dataset="flatvel-a", batch_size=4, shuffle=False)))[0].numpy()
    np.testing.assert_allclose(plain, normalize_seismic(raw, "flatvel-a"), atol=1e-6)
    dropout = Augmentation(trace_dropout=0.5)
    runs = [next(iter(openfwi_dataset(split, dataset="flatvel-a", batch_size=4, shuffle=False, seed=0,
                                      augment=dropout)))[0].numpy() for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    zero_level = normalize_seismic(np.zeros(1, np.float32), "flatvel-a")[0]
    dropped = np.all(np.abs(runs[0] - zero_level) < 1e-6, axis=2)
    assert 0.3 < dropped.mean() < 0.7
    np.testing.assert_array_equal(np.transpose(runs[0], (0, 1, 3, 2))[~dropped],
                                  np.transpose(plain, (0, 1, 3, 2))[~dropped])
    with pytest.raises(ValueError, match="augment acts on raw amplitudes, which cache=True does not keep"):
        openfwi_dataset(split, dataset="flatvel-a", cache=True, augment=dropout)
