"""``keras_fwi datasets``: the preset table, and --check running the pipeline's checks on files."""

import numpy as np

from data_files import write_pair
from keras_fwi.cli import main
from keras_fwi.data import get_preset


def test_lists_every_preset(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "flatvel-a" in out and "fcnvmb-seg-salt" in out and "-29.04 .. 57.03" in out and "1-120 / 121-134" in out


def test_check_passes_and_fails_with_one_line(tmp_path, capsys):
    data, model = write_pair(tmp_path, 1, samples=2, preset=get_preset("flatvel-a"))
    assert main(["datasets", "--check", str(tmp_path), "--dataset", "flatvel-a"]) == 0
    assert "1 file(s), 2 labelled samples, all checks passed" in capsys.readouterr().out
    velocity = np.load(model)
    velocity[1, 0, 0, 0] = np.inf
    np.save(model, velocity)
    assert main(["datasets", "--check", str(tmp_path), "--dataset", "flatvel-a"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("keras_fwi datasets: error: ") and "model1.npy, sample 1: velocity map contains Inf" in err
    assert len(err.splitlines()) == 1
    assert main(["datasets", "--check", str(tmp_path)]) == 2
    assert "--check needs --dataset NAME" in capsys.readouterr().err


def test_check_reads_fcnvmb_mat_folders_by_the_preset(tmp_path, monkeypatch, capsys):
    scipy_io = __import__("pytest").importorskip("scipy.io")
    from fcnvmb_support import register_tiny_presets

    register_tiny_presets(monkeypatch)
    rng = np.random.default_rng(0)
    (tmp_path / "georec_train").mkdir()
    (tmp_path / "vmodel_train").mkdir()
    for i in (1, 2):  # SEG salt's names in the reference's folders
        scipy_io.savemat(tmp_path / "georec_train" / f"srec{i}.mat", {"Rec": rng.normal(size=(100, 12, 3))})
        scipy_io.savemat(tmp_path / "vmodel_train" / f"svmodel{i}.mat", {"svmodel": np.full((20, 12), 3000.0)})
    assert main(["datasets", "--check", str(tmp_path / "georec_train"), "--dataset", "tiny-fcnvmb-seg-salt"]) == 0
    assert "2 file(s), 2 labelled samples, all checks passed" in capsys.readouterr().out
    bad = rng.normal(size=(100, 12, 3))
    bad[7, 0, 0] = np.nan  # decimation keeps time sample 7 (2, 7, 12, ...)
    scipy_io.savemat(tmp_path / "georec_train" / "srec2.mat", {"Rec": bad})
    assert main(["datasets", "--check", str(tmp_path / "georec_train"), "--dataset", "tiny-fcnvmb-seg-salt"]) == 2
    err = capsys.readouterr().err.strip()
    assert "srec2.mat, sample 0: seismic data contains NaN" in err and len(err.splitlines()) == 1
