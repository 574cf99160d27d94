"""Every bad input openfwi_dataset handles gets one clear error naming the file (and sample, value)."""

import pickle
import re

import numpy as np
import pytest
import tensorflow as tf

from data_files import SMALL, write_dataset
from keras_fwi.data import get_preset, openfwi_dataset


@pytest.fixture
def pairs(tmp_path):
    return write_dataset(tmp_path / "set", files=2, samples=4)


def _overwrite(path, array):
    np.save(path, array)
    return path


@pytest.mark.parametrize("bad_value, kind", [(np.nan, "NaN"), (np.inf, "Inf"), (-np.inf, "Inf")])
def test_non_finite_seismic_names_file_and_sample(pairs, bad_value, kind):
    data = np.load(pairs[1][0])
    data[2, 1, 5, 3] = bad_value
    _overwrite(pairs[1][0], data)
    with pytest.raises(ValueError, match=rf"data2\.npy, sample 2: seismic data contains {kind}; expected finite"):
        openfwi_dataset(pairs, dataset=SMALL)


def test_non_finite_velocity_names_file_and_sample(pairs):
    model = np.load(pairs[0][1])
    model[3, 0, 1, 1] = np.nan
    _overwrite(pairs[0][1], model)
    with pytest.raises(ValueError, match=r"model1\.npy, sample 3: velocity map contains NaN"):
        openfwi_dataset(pairs, dataset=SMALL)


def test_velocity_outside_the_preset_range(pairs):
    model = np.load(pairs[1][1])
    model[1, 0, 2, 2] = 4700.0
    _overwrite(pairs[1][1], model)
    expected = (r"model2\.npy, sample 1: velocities range from [0-9.]+ to 4700, outside the expected range; "
                r"dataset 'small' expects 1500 to 4500 m/s")
    with pytest.raises(ValueError, match=expected):
        openfwi_dataset(pairs, dataset=SMALL)


def test_velocities_in_km_per_s_are_refused(pairs):
    _overwrite(pairs[0][1], np.load(pairs[0][1]) / 1000)
    with pytest.raises(ValueError, match=r"model1\.npy, sample 0: .*not in m/s\?"):
        openfwi_dataset(pairs, dataset=SMALL)


def test_streaming_check_stops_iteration_with_the_same_message(pairs):
    data = np.load(pairs[1][0])
    data[3, 0, 0, 0] = np.nan
    _overwrite(pairs[1][0], data)
    ds = openfwi_dataset(pairs, dataset=SMALL, shuffle=False, check_values="stream")  # no scan: builds
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"data2\.npy, sample 3: seismic data contains NaN"):
        for _ in ds:
            pass


def test_channels_last_seismic_layout_gets_the_transpose_to_fix_it(tmp_path):
    preset = get_preset("flatvel-a")
    path = tmp_path / "data1.npy"
    np.save(path, np.zeros((1, 1000, 70, 5), np.float32))
    np.save(tmp_path / "model1.npy", np.full((1, 1, 70, 70), 2000, np.float32))
    expected = (r"data1\.npy has shape \(1, 1000, 70, 5\); dataset 'flatvel-a' expects \(samples, shots, time, "
                r"receivers\) = \(N, 5, 1000, 70\); the axes look permuted: np\.transpose\(array, \(0, 3, 1, 2\)\)")
    with pytest.raises(ValueError, match=expected):
        openfwi_dataset(tmp_path, dataset=preset)


def test_wrong_receiver_count(pairs):
    _overwrite(pairs[0][0], np.zeros((4, 3, 40, 8), np.float32))
    with pytest.raises(ValueError, match=r"data1\.npy has shape \(4, 3, 40, 8\); .*= \(N, 3, 40, 9\)$"):
        openfwi_dataset(pairs, dataset=SMALL)


def test_single_sample_without_sample_axis(pairs):
    _overwrite(pairs[0][0], np.zeros((3, 40, 9), np.float32))
    with pytest.raises(ValueError, match=r"data1\.npy has shape \(3, 40, 9\).*single sample .*array\[None\]"):
        openfwi_dataset(pairs, dataset=SMALL)


def test_velocity_without_channel_axis(pairs):
    _overwrite(pairs[0][1], np.full((4, 6, 9), 2000, np.float32))
    with pytest.raises(ValueError, match=r"model1\.npy has shape \(4, 6, 9\);.*\(N, 1, 6, 9\); the channel axis is "
                                         r"missing: use array\[:, None\]"):
        openfwi_dataset(pairs, dataset=SMALL)


@pytest.mark.parametrize("dtype", ["int16", "complex64", "bool"])
def test_wrong_dtype(pairs, dtype):
    _overwrite(pairs[1][0], np.zeros((4, 3, 40, 9), dtype))
    with pytest.raises(ValueError, match=rf"data2\.npy has dtype {dtype}; seismic amplitudes must be floating point"):
        openfwi_dataset(pairs, dataset=SMALL)


def test_float64_files_are_accepted(pairs):
    _overwrite(pairs[0][0], np.load(pairs[0][0]).astype(np.float64))
    seismic, _ = next(iter(openfwi_dataset(pairs, dataset=SMALL, shuffle=False)))
    assert seismic.dtype == tf.float32


def test_sample_count_mismatch(pairs):
    _overwrite(pairs[1][1], np.load(pairs[1][1])[:3])
    with pytest.raises(ValueError, match=r"data2\.npy has 4 samples but its model file .*model2\.npy has 3"):
        openfwi_dataset(pairs, dataset=SMALL)


def test_pickled_object_array_is_never_unpickled(pairs):
    np.save(pairs[0][0], np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"data1\.npy holds a pickled object array \(dtype object\); keras_fwi never unpickles"):
        openfwi_dataset(pairs, dataset=SMALL)


def test_plain_pickle_named_npy(pairs):
    pairs[0][1].write_bytes(pickle.dumps(np.zeros(3)))
    with pytest.raises(ValueError, match=r"model1\.npy is not a \.npy array file"):
        openfwi_dataset(pairs, dataset=SMALL)


def test_npz_archive_named_npy(pairs):
    with open(pairs[0][0], "wb") as handle:
        np.savez(handle, seismic=np.zeros((4, 3, 40, 9), np.float32))
    with pytest.raises(ValueError, match=r"data1\.npy is an \.npz archive; save each array as its own \.npy file"):
        openfwi_dataset(pairs, dataset=SMALL)


def test_empty_file(pairs):
    _overwrite(pairs[0][0], np.zeros((0, 3, 40, 9), np.float32))
    with pytest.raises(ValueError, match=r"data1\.npy holds no samples"):
        openfwi_dataset(pairs, dataset=SMALL)


def test_truncated_file(pairs):
    content = pairs[1][0].read_bytes()
    pairs[1][0].write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match=r"data2\.npy is truncated"):
        openfwi_dataset(pairs, dataset=SMALL)


def test_missing_files_are_all_listed(pairs):
    pairs[0][1].unlink()
    pairs[1][0].unlink()
    with pytest.raises(FileNotFoundError, match=r"2 file\(s\) not found: .*model1\.npy, .*data2\.npy"):
        openfwi_dataset(pairs, dataset=SMALL)


def test_unknown_dataset_lists_known_ones(pairs):
    with pytest.raises(ValueError, match=r"unknown dataset 'flatvel-z'; known datasets: .*flatvel-a, flatvel-b"):
        openfwi_dataset(pairs, dataset="flatvel-z")


def test_data_file_without_model_file_in_a_split_file(pairs, tmp_path):
    split = tmp_path / "set" / "train.txt"
    split.write_text(f"{pairs[0][0].name}\t{pairs[0][1].name}\n{pairs[1][0].name}\n")
    with pytest.raises(ValueError, match=r"train\.txt, line 2: data file without its model file"):
        openfwi_dataset(split, dataset=SMALL)


def test_data_file_without_model_file_in_a_directory(pairs):
    pairs[1][1].unlink()
    with pytest.raises(ValueError, match=r"1 file\(s\) have no partner: .*data2\.npy"):
        openfwi_dataset(pairs[0][0].parent, dataset=SMALL)


def test_empty_model_folder_means_missing_model_files(tmp_path):
    write_dataset(tmp_path / "set", files=2, samples=2)
    (tmp_path / "FlatVel_A" / "model").mkdir(parents=True)
    (tmp_path / "set").rename(tmp_path / "FlatVel_A" / "data")
    for model in (tmp_path / "FlatVel_A" / "data").glob("model*.npy"):
        model.unlink()
    with pytest.raises(ValueError, match=r"2 file\(s\) have no partner: .*data1\.npy; .*data2\.npy"):
        openfwi_dataset(tmp_path / "FlatVel_A", dataset=SMALL)


def test_split_file_separated_by_spaces(pairs, tmp_path):
    split = tmp_path / "set" / "train.txt"
    split.write_text(f"{pairs[0][0].name} {pairs[0][1].name}\n")
    with pytest.raises(ValueError, match=r"train\.txt, line 1: separate the data and model paths with a TAB"):
        openfwi_dataset(split, dataset=SMALL)


def test_data_file_without_model_file_in_a_list(pairs):
    with pytest.raises(ValueError, match=r"source\[1\] \(.*data2\.npy\) is a data file without its model file"):
        openfwi_dataset([pairs[0], pairs[1][0]], dataset=SMALL)


def test_labels_required_but_absent(pairs):
    with pytest.raises(ValueError, match=r"labels=True but the source gives data files without model files"):
        openfwi_dataset([pairs[0][0]], dataset=SMALL, labels=True)


def test_bad_sources(tmp_path, pairs):
    with pytest.raises(FileNotFoundError, match=r"source .*nowhere does not exist"):
        openfwi_dataset(tmp_path / "nowhere", dataset=SMALL)
    with pytest.raises(ValueError, match=r"source .*data1\.npy is an array file; pass a split file"):
        openfwi_dataset(pairs[0][0], dataset=SMALL)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"no seismic \.npy files found in .*empty"):
        openfwi_dataset(empty, dataset=SMALL)
    split = tmp_path / "three.txt"
    split.write_text("a.npy\tb.npy\tc.npy\n")
    with pytest.raises(ValueError, match=r"three\.txt, line 1: expected 'data\.npy' or 'data\.npy<TAB>model\.npy'"):
        openfwi_dataset(split, dataset=SMALL)
    (tmp_path / "blank.txt").write_text("\n# nothing\n")
    with pytest.raises(ValueError, match=r"split file .*blank\.txt lists no files"):
        openfwi_dataset(tmp_path / "blank.txt", dataset=SMALL)


@pytest.mark.parametrize("arguments, message", [
    ({"batch_size": 0}, "batch_size must be a positive int, got 0"),
    ({"sample_temporal": 1.5}, "sample_temporal must be a positive int, got 1.5"),
    ({"check_values": "never"}, "check_values must be one of 'scan', 'stream', got 'never'"),
    ({"data_format": "NCHW"}, "data_format must be one of 'channels_first', 'channels_last', got 'NCHW'"),
    ({"num_shards": 0}, "num_shards must be a positive int, got 0"),
])
def test_bad_arguments(pairs, arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        openfwi_dataset(pairs, dataset=SMALL, **arguments)


def test_misspelt_option_is_a_type_error(pairs):
    with pytest.raises(TypeError, match="batchsize"):
        openfwi_dataset(pairs, dataset=SMALL, batchsize=4)
