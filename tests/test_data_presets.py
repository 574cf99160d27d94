"""Dataset presets: OpenFWI's and FCNVMB's published constants, loaded by name without TensorFlow."""

import subprocess
import sys

import pytest

from keras_fwi.data import get_preset, preset_names

OPENFWI_RANGES = {
    "flatvel-a": (-26.95, 52.77), "flatvel-b": (-27.17, 56.05), "curvevel-a": (-27.11, 55.10),
    "curvevel-b": (-29.04, 57.03), "flatfault-a": (-26.10, 50.86), "flatfault-b": (-24.86, 50.28),
    "curvefault-a": (-26.48, 52.32), "curvefault-b": (-24.93, 50.98), "style-a": (-24.96, 48.93),
    "style-b": (-23.76, 46.01), "flatvel-tutorial": (-26.95, 52.77),
}
SPLITS = {"vel": ((1, 48), (49, 60)), "fault": ((1, 96), (97, 108)), "style": ((1, 120), (121, 134))}


@pytest.mark.parametrize("name", sorted(OPENFWI_RANGES))
def test_openfwi_constants(name):
    preset = get_preset(name)
    assert (preset.data_min, preset.data_max) == OPENFWI_RANGES[name]
    assert (preset.label_min, preset.label_max) == (1500.0, 4500.0)
    assert preset.seismic_shape == (5, 1000, 70)
    assert preset.velocity_sample_shape == (1, 70, 70)
    assert (preset.dt, preset.dx, preset.frequency) == (0.001, 10.0, 15.0)
    assert (preset.source_depth, preset.receiver_depth, preset.boundary_cells) == (10.0, 10.0, 120)
    assert preset.normalize and preset.log_k == 1.0
    assert preset.samples_per_file == (120 if name == "flatvel-tutorial" else 500)
    if name != "flatvel-tutorial":
        assert (preset.train_files, preset.test_files) == SPLITS[preset.family]


def test_family_of_each_openfwi_dataset():
    families = {name: get_preset(name).family for name in OPENFWI_RANGES}
    assert families["curvevel-b"] == "vel" and families["flatfault-a"] == "fault"
    assert families["style-b"] == "style"


@pytest.mark.parametrize("name, velocity_variable", [("fcnvmb-simulated", "vmodel"),
                                                    ("fcnvmb-seg-salt", "svmodel")])
def test_fcnvmb_presets(name, velocity_variable):
    preset = get_preset(name)
    assert preset.seismic_shape == (29, 400, 301)
    assert (preset.raw_time_samples, preset.time_decimation, preset.receiver_decimation) == (2000, 5, 1)
    assert preset.velocity_shape == (201, 301) and preset.dx == 10.0
    assert not preset.normalize  # the reference trains on raw amplitudes and m/s
    assert (preset.seismic_variable, preset.velocity_variable) == ("Rec", velocity_variable)


def test_name_spellings_and_replace():
    assert get_preset("FlatVel_A") is get_preset("flatvel-a")
    custom = get_preset("flatvel-a").replace(data_min=-1.0)
    assert custom.data_min == -1.0 and get_preset("flatvel-a").data_min == -26.95
    assert get_preset(custom) is custom
    with pytest.raises(TypeError):
        get_preset("flatvel-a").replace(data_mni=-1.0)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown dataset 'flatvel-c'; known datasets: .*flatvel-a.*style-b"):
        get_preset("flatvel-c")
    assert len(preset_names()) == 13


def test_presets_and_numpy_transforms_import_without_tensorflow():
    code = ("import sys, numpy as np; import keras_fwi.data as d; "
            "d.normalize_seismic(np.ones((1, 5, 4, 3)), 'flatvel-a'); d.get_preset('style-a'); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
