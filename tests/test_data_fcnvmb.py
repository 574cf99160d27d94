"""FCNVMB .mat reader: round trips through scipy.io, the reference's decimation, and its errors."""

import numpy as np
import pytest

scipy_io = pytest.importorskip("scipy.io")

from keras_fwi.data import get_preset  # noqa: E402
from keras_fwi.data.fcnvmb import decimate_middle, fcnvmb_dataset, fcnvmb_pairs, read_fcnvmb_sample  # noqa: E402

TINY = get_preset("fcnvmb-simulated").replace(name="tiny-fcnvmb", shots=3, raw_time_samples=20, time_samples=4,
                                              receivers=7, velocity_shape=(5, 7))


def _reference_decimate(a, block):
    """FCNVMB's rule on axis 0: zero-pad to whole blocks, keep index round((b+1)/2 - 1) of each."""
    rows = -(-a.shape[0] // block) * block
    padded = np.zeros((rows, *a.shape[1:]), a.dtype)
    padded[:a.shape[0]] = a
    keep = int(np.round((block + 1) / 2 - 1))
    return np.stack([padded[j * block + keep] for j in range(rows // block)])


@pytest.mark.parametrize("block, size", [(5, 2000), (5, 23), (2, 9), (4, 12), (1, 7)])
def test_decimation_keeps_the_middle_of_each_block(block, size):
    a = np.random.default_rng(0).normal(size=(size, 3))
    np.testing.assert_array_equal(decimate_middle(a, block, axis=0), _reference_decimate(a, block))
    if block == 5 and size == 2000:
        np.testing.assert_array_equal(decimate_middle(a, 5, axis=0), a[2::5])


def _write(folder, index, preset=TINY, seismic_name="georec", velocity_name="vmodel", variable="vmodel"):
    rng = np.random.default_rng(index)
    rec = rng.normal(size=(preset.raw_time_samples, preset.receivers, preset.shots))
    model = rng.uniform(1500, 4500, size=preset.velocity_shape)
    folder.mkdir(parents=True, exist_ok=True)
    scipy_io.savemat(folder / f"{seismic_name}{index}.mat", {"Rec": rec})
    return rec, model, folder / f"{seismic_name}{index}.mat", _save_model(folder, velocity_name, index, model,
                                                                          variable)


def _save_model(folder, name, index, model, variable):
    path = folder / f"{name}{index}.mat"
    scipy_io.savemat(path, {variable: model})
    return path


def test_round_trip_layout_and_values(tmp_path):
    rec, model, seismic_path, velocity_path = _write(tmp_path, 1)
    seismic, velocity = read_fcnvmb_sample(seismic_path, velocity_path, dataset=TINY)
    assert seismic.shape == (3, 4, 7) and velocity.shape == (1, 5, 7)
    np.testing.assert_array_equal(seismic, rec[2::5].astype(np.float32).transpose(2, 0, 1))
    np.testing.assert_array_equal(velocity[0], model.astype(np.float32))


def test_default_preset_shapes_match_the_model(tmp_path):
    preset = get_preset("fcnvmb-seg-salt")
    rng = np.random.default_rng(0)
    scipy_io.savemat(tmp_path / "srec1.mat", {"Rec": rng.normal(size=(2000, 301, 29)).astype(np.float32)})
    scipy_io.savemat(tmp_path / "svmodel1.mat", {"svmodel": np.full((201, 301), 3000.0)})
    seismic, velocity = read_fcnvmb_sample(tmp_path / "srec1.mat", tmp_path / "svmodel1.mat", dataset=preset)
    assert seismic.shape == (29, 400, 301) and velocity.shape == (1, 201, 301)


def test_dataset_from_reference_folders_raw_units(tmp_path):
    for index in (1, 2, 3):
        _write(tmp_path / "georec_train", index)
        (tmp_path / "georec_train" / f"vmodel{index}.mat").rename(tmp_path / f"vmodel{index}.mat")
    (tmp_path / "vmodel_train").mkdir()
    for index in (1, 2, 3):
        (tmp_path / f"vmodel{index}.mat").rename(tmp_path / "vmodel_train" / f"vmodel{index}.mat")
    pairs = fcnvmb_pairs(tmp_path / "georec_train", TINY)
    assert [p[1].parent.name for p in pairs] == ["vmodel_train"] * 3
    ds = fcnvmb_dataset(tmp_path / "georec_train", dataset=TINY, batch_size=2, shuffle=False)
    assert ds.element_spec[0].shape.as_list() == [None, 3, 4, 7]
    batches = list(ds.as_numpy_iterator())
    assert [b[0].shape[0] for b in batches] == [2, 1]
    assert batches[0][1].min() >= 1500 and batches[0][1].max() <= 4500  # m/s, as the reference trains


def test_dataset_normalize_option_and_channels_last(tmp_path):
    _, model, seismic_path, velocity_path = _write(tmp_path, 1)
    preset = TINY.replace(data_min=-5.0, data_max=5.0, label_min=1500.0, label_max=4500.0)
    ds = fcnvmb_dataset([(seismic_path, velocity_path)], dataset=preset, normalize=True, batch_size=1,
                        data_format="channels_last", cache=True, seed=0)
    seismic, velocity = next(iter(ds))
    assert seismic.shape == (1, 4, 7, 3) and velocity.shape == (1, 5, 7, 1)
    np.testing.assert_allclose(velocity.numpy()[0, :, :, 0], (model - 1500) / 3000 * 2 - 1, atol=1e-6)
    with pytest.raises(ValueError, match="has no seismic range to normalise with"):
        fcnvmb_dataset([(seismic_path, velocity_path)], dataset=TINY, normalize=True)


def test_custom_variable_names_and_missing_variable(tmp_path):
    _, _, seismic_path, velocity_path = _write(tmp_path, 1, variable="velocity")
    with pytest.raises(ValueError, match=r"vmodel1\.mat has no variable 'vmodel' for the velocity model; it holds "
                                         r"\['velocity'\]: pass velocity_variable=<name>"):
        read_fcnvmb_sample(seismic_path, velocity_path, dataset=TINY)
    _, velocity = read_fcnvmb_sample(seismic_path, velocity_path, dataset=TINY, velocity_variable="velocity")
    assert velocity.shape == (1, 5, 7)


def test_wrong_shape_and_bad_values(tmp_path):
    scipy_io.savemat(tmp_path / "georec1.mat", {"Rec": np.zeros((3, 20, 7))})
    with pytest.raises(ValueError, match=r"georec1\.mat: variable 'Rec' has shape \(3, 20, 7\); dataset "
                                         r"'tiny-fcnvmb' expects \(time, receivers, shots\) = \(20, 7, 3\); the axes"):
        read_fcnvmb_sample(tmp_path / "georec1.mat", dataset=TINY)
    _, model, seismic_path, velocity_path = _write(tmp_path, 2)
    model[1, 1] = -3.0
    scipy_io.savemat(velocity_path, {"vmodel": model})
    with pytest.raises(ValueError, match=r"vmodel2\.mat, sample 0: .*velocities must be positive m/s"):
        read_fcnvmb_sample(seismic_path, velocity_path, dataset=TINY)


def test_unreadable_and_orphan_files(tmp_path):
    (tmp_path / "georec1.mat").write_bytes(b"not a mat file" * 20)
    with pytest.raises(ValueError, match=r"georec1\.mat is not a readable MATLAB \.mat file"):
        read_fcnvmb_sample(tmp_path / "georec1.mat", dataset=TINY)
    folder = tmp_path / "georec_test"
    _write(folder, 1)
    _write(folder, 2)
    (folder / "vmodel2.mat").unlink()
    with pytest.raises(ValueError, match=r"1 seismic file\(s\) have no vmodel<i>\.mat velocity file .*georec2\.mat"):
        fcnvmb_dataset(folder, dataset=TINY)
