"""Survey: presets carry the published facts, bad geometry gets one clear error, CFL and sampling."""

import dataclasses
import math
import warnings

import numpy as np
import pytest

from keras_fwi.physics import CFL_LIMIT, Survey


def test_openfwi_preset_facts():
    survey = Survey.openfwi()
    assert (survey.nz, survey.nx, survey.dx, survey.nt, survey.dt, survey.frequency) == (70, 70, 10.0, 1000, 1e-3, 15.0)
    assert survey.source_x == (0, 17, 34, 52, 69)
    assert survey.source_z == (1,) * 5 and survey.receiver_z == (1,) * 70
    assert survey.receiver_x == tuple(range(70))
    assert (survey.absorbing, survey.boundary) == ("cpml", 12) and not survey.free_surface
    assert (survey.shots, survey.receivers) == (5, 70)


def test_absorbing_layer_choice_sets_its_default_width():
    """OpenFWI's own layer is 120 damping cells; asking for it by name gives exactly that."""
    exact = Survey.openfwi(absorbing="damping")
    assert (exact.absorbing, exact.boundary) == ("damping", 120)
    assert Survey.openfwi().replace(absorbing="damping") == exact
    assert Survey.openfwi(absorbing="damping", boundary=40).boundary == 40
    assert exact.replace(absorbing="cpml").boundary == 12
    with pytest.raises(ValueError, match="absorbing must be one of 'cpml', 'damping', got 'sponge'"):
        Survey.openfwi(absorbing="sponge")


def test_surveys_saved_before_cpml_read_as_damping():
    """dataset.json files written before the CPML existed have no ``absorbing``: they were damping."""
    fields = Survey.openfwi(absorbing="damping").to_dict()
    del fields["absorbing"]
    assert Survey.from_dict(fields) == Survey.openfwi(absorbing="damping")


def test_fcnvmb_preset_facts():
    survey = Survey.fcnvmb()
    assert (survey.nz, survey.nx, survey.dx, survey.nt, survey.dt) == (201, 301, 10.0, 2000, 1e-3)
    assert (survey.shots, survey.receivers) == (29, 301)
    assert survey.source_x[0] == 0 and survey.source_x[-1] == 300
    assert np.all(np.diff(survey.source_x) >= 10)


def test_wavelet_is_openfwi_ricker():
    survey = Survey.openfwi()
    wavelet = survey.wavelet()
    half = math.floor(1.1 / (15.0 * 1e-3))  # 73: 2 * 73 + 1 = 147 samples from t = 0
    assert wavelet.shape == (1000,)
    assert np.argmax(wavelet) == half and wavelet[half] == pytest.approx(1.0)
    assert np.all(wavelet[2 * half + 1:] == 0) and wavelet[2 * half] != 0
    np.testing.assert_allclose(wavelet[:2 * half + 1], wavelet[2 * half::-1])


def test_survey_is_immutable_and_round_trips():
    survey = Survey.openfwi(boundary=40)
    with pytest.raises(dataclasses.FrozenInstanceError):
        survey.nt = 10
    assert Survey.from_dict(survey.to_dict()) == survey
    assert survey.replace(free_surface=True).free_surface
    assert hash(survey) == hash(Survey.openfwi(boundary=40))


def _small(**changes):
    fields = dict(nz=20, nx=30, dx=10.0, nt=100, dt=1e-3, frequency=15.0, source_z=1, source_x=[0, 29],
                  receiver_z=1, receiver_x=list(range(30)), boundary=10)
    fields.update(changes)
    return Survey(**fields)


def test_scalar_depth_is_shared_and_arrays_accepted():
    survey = _small(source_z=np.array([1, 2]), receiver_x=np.arange(5))
    assert survey.source_z == (1, 2) and survey.receiver_z == (1,) * 5


@pytest.mark.parametrize("changes, message", [
    (dict(source_x=[0, 30]), r"source_x has positions outside the grid: \[30\] \(valid x cells are 0..29\)"),
    (dict(receiver_z=20), r"receiver_z has positions outside the grid: \[20\] \(valid z cells are 0..19\)"),
    (dict(source_z=[-1, 1]), r"source_z has positions outside the grid: \[-1\]"),
    (dict(source_x=[1.5]), "source_x must hold integer grid indices"),
    (dict(source_z=[1, 2, 3]), "source_z has 3 entries but source_x has 2"),
    (dict(receiver_z=[1, 2]), "receiver_z has 2 entries but receiver_x has 30"),
    (dict(nz=0), "nz must be a positive int, got 0"),
    (dict(nt=-5), "nt must be a positive int, got -5"),
    (dict(dx=0.0), "dx must be a positive number, got 0.0"),
    (dict(dt=-1e-3), "dt must be a positive number"),
    (dict(frequency="15"), "frequency must be a positive number, got '15'"),
    (dict(boundary=2), "boundary must be at least 3 cells"),
    (dict(velocity_range=(3000, 2000)), r"velocity_range must satisfy 0 < min <= max"),
])
def test_bad_geometry_is_one_clear_error(changes, message):
    with pytest.raises(ValueError, match=message):
        _small(**changes)


def test_cfl_error_states_numbers_and_largest_stable_dt():
    with pytest.raises(ValueError) as info:
        _small(dx=5.0, dt=2e-3, velocity_range=(1500.0, 4500.0))
    message = str(info.value)
    assert "4500 m/s" in message and "dt 0.002 s" in message and "dx 5 m" in message
    assert f"{4500 * 2e-3 / 5:.4f}" in message and f"{CFL_LIMIT:.4f}" in message
    largest = CFL_LIMIT * 5.0 / 4500.0
    assert f"dt <= {largest:.6g} s" in message
    # The stated dt really is stable, and just above it is not.
    _small(dx=5.0, dt=largest * 0.999, velocity_range=(1500.0, 4500.0))
    with pytest.raises(ValueError, match="CFL"):
        _small(dx=5.0, dt=largest * 1.01, velocity_range=(1500.0, 4500.0))


def test_few_points_per_wavelength_warns():
    with pytest.warns(UserWarning, match=r"only 3.00 grid points per wavelength .* Use dx <= 30 m"):
        _small(dx=50.0, frequency=10.0, velocity_range=(1500.0, 1500.0), dt=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Survey.openfwi()
