"""SEG-Y shot gathers: written with segyio, read back grouped, ordered and resampled; bad geometry refused."""

import numpy as np
import pytest

segyio = pytest.importorskip("segyio")
pytest.importorskip("scipy.signal")

from data_files import SMALL  # noqa: E402
from keras_fwi.data import get_preset, normalize_seismic  # noqa: E402
from keras_fwi.data.segy import read_segy_shots, segy_dataset  # noqa: E402


def _write_segy(path, gathers, dt_us, shot_ids=None, shuffle=True):
    """gathers: (shots, receivers, samples). Traces are written in a scrambled order on purpose."""
    shots, receivers, samples = gathers.shape
    shot_ids = list(range(101, 101 + shots)) if shot_ids is None else shot_ids
    order = [(s, r) for s in range(shots) for r in range(receivers)]
    if shuffle:
        order = [order[i] for i in np.random.default_rng(0).permutation(len(order))]
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, np.arange(samples) * dt_us / 1000, len(order)
    with segyio.create(str(path), spec) as handle:
        handle.bin.update({segyio.BinField.Interval: int(dt_us), segyio.BinField.Samples: samples})
        for index, (s, r) in enumerate(order):
            handle.header[index] = {segyio.TraceField.FieldRecord: shot_ids[s], segyio.TraceField.GroupX: 10 * r,
                                    segyio.TraceField.TRACE_SAMPLE_INTERVAL: int(dt_us),
                                    segyio.TraceField.TRACE_SAMPLE_COUNT: samples}
            handle.trace[index] = gathers[s, r].astype(np.float32)


def _gathers(shots, receivers, samples, seed=0):
    return np.random.default_rng(seed).normal(size=(shots, receivers, samples)).astype(np.float32)


def test_round_trip_same_sample_interval(tmp_path):
    gathers = _gathers(3, 9, 50)
    _write_segy(tmp_path / "shots.sgy", gathers, dt_us=1000)
    seismic = read_segy_shots(tmp_path / "shots.sgy", dataset=SMALL)
    assert seismic.shape == (3, 40, 9)
    np.testing.assert_array_equal(seismic, gathers[:, :, :40].transpose(0, 2, 1))


def test_resampling_to_the_model_clock(tmp_path):
    t_fine = np.arange(200) * 0.0005  # 0.5 ms, twice the model's rate
    signal = np.sin(2 * np.pi * 15.0 * t_fine)  # OpenFWI's 15 Hz, far below either Nyquist
    gathers = np.broadcast_to(signal, (3, 9, 200)).astype(np.float32)
    _write_segy(tmp_path / "fine.sgy", gathers, dt_us=500, shuffle=False)
    seismic = read_segy_shots(tmp_path / "fine.sgy", dataset=SMALL)
    expected = np.sin(2 * np.pi * 15.0 * np.arange(40) * 0.001)
    np.testing.assert_allclose(seismic[1, 5:35, 4], expected[5:35], atol=2e-2)  # away from filter edges


def test_dataset_normalises_like_openfwi(tmp_path):
    gathers = _gathers(3, 9, 40) * 10
    _write_segy(tmp_path / "a.sgy", gathers, dt_us=1000)
    _write_segy(tmp_path / "b.sgy", gathers[::-1].copy(), dt_us=1000)
    ds = segy_dataset([tmp_path / "a.sgy", tmp_path / "b.sgy"], dataset=SMALL, batch_size=2)
    batch = next(iter(ds)).numpy()
    assert batch.shape == (2, 3, 40, 9)
    np.testing.assert_allclose(batch[0], normalize_seismic(gathers.transpose(0, 2, 1), SMALL), atol=1e-6)


def test_geometry_that_does_not_fit_is_refused(tmp_path):
    _write_segy(tmp_path / "four.sgy", _gathers(4, 9, 40), dt_us=1000)
    with pytest.raises(ValueError, match=r"four\.sgy has 4 shots by FieldRecord \(ids \[101, 102, 103, 104\]\); "
                                         r"dataset 'small' expects 3 shots"):
        read_segy_shots(tmp_path / "four.sgy", dataset=SMALL)
    _write_segy(tmp_path / "eight.sgy", _gathers(3, 8, 40), dt_us=1000)
    with pytest.raises(ValueError, match=r"eight\.sgy: shots \[101, 102, 103\] have \[8\] traces; .*expects 9 receivers"):
        read_segy_shots(tmp_path / "eight.sgy", dataset=SMALL)
    _write_segy(tmp_path / "short.sgy", _gathers(3, 9, 30), dt_us=1000)
    with pytest.raises(ValueError, match=r"short\.sgy: records are 0\.029 s long .* model needs 0\.039 s"):
        read_segy_shots(tmp_path / "short.sgy", dataset=SMALL)
    with pytest.raises(ValueError, match=r"unknown SEG-Y trace header field 'Shot'"):
        read_segy_shots(tmp_path / "short.sgy", dataset=SMALL, shot_key="Shot")


def test_openfwi_geometry_from_segy(tmp_path):
    _write_segy(tmp_path / "field.sgy", _gathers(5, 70, 1000), dt_us=1000, shuffle=False)
    assert read_segy_shots(tmp_path / "field.sgy", dataset=get_preset("flatvel-a")).shape == (5, 1000, 70)


def test_not_a_segy_file(tmp_path):
    (tmp_path / "x.sgy").write_bytes(b"\0" * 100)
    with pytest.raises(ValueError, match=r"x\.sgy could not be read as SEG-Y"):
        read_segy_shots(tmp_path / "x.sgy", dataset=SMALL)
