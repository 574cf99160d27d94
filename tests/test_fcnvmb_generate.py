"""generate in FCNVMB's .mat layout: file names, variables, axes, resume, refusals; SEG salt folder pairing."""

import json

import numpy as np
import pytest
from fcnvmb_support import TINY_SURVEY, register_tiny_presets, tiny_preset

scipy_io = pytest.importorskip("scipy.io")

from keras_fwi.cli import main  # noqa: E402
from keras_fwi.data.fcnvmb import fcnvmb_pairs, read_fcnvmb_sample  # noqa: E402
from keras_fwi.physics.families import velocity_models  # noqa: E402
from keras_fwi.physics.fcnvmb_files import generate_fcnvmb_dataset  # noqa: E402
from keras_fwi.physics.generate import synthesize  # noqa: E402


@pytest.fixture(scope="module")
def salt(tmp_path_factory):
    """Two training and one test sample in SEG salt's layout (srec/svmodel in georec_*/vmodel_*)."""
    out = tmp_path_factory.mktemp("salt") / "SEGSaltData"
    summary = generate_fcnvmb_dataset(out, 2, dataset=tiny_preset("fcnvmb-seg-salt"), test_samples=1,
                                      survey=TINY_SURVEY, seed=3, progress=False)
    return out, summary


def test_reference_layout_names_variables_and_axes(salt):
    out, summary = salt
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mat")) == [
        "georec_test/srec3.mat", "georec_train/srec1.mat", "georec_train/srec2.mat",
        "vmodel_test/svmodel3.mat", "vmodel_train/svmodel1.mat", "vmodel_train/svmodel2.mat"]
    assert summary["family"] == "salt" and summary["written"] == [1, 2, 3]
    rec = scipy_io.loadmat(out / "georec_train" / "srec2.mat")["Rec"]
    model = scipy_io.loadmat(out / "vmodel_train" / "svmodel2.mat")["svmodel"]
    assert rec.shape == (100, 12, 3) and rec.dtype == np.float32  # (time, receivers, shots), as FCNVMB stores
    assert model.shape == (20, 12) and model.dtype == np.float32
    np.testing.assert_array_equal(model, velocity_models("salt", 1, seed=3, start=1, shape=(20, 12))[0])
    seismic, _ = synthesize("salt", 1, TINY_SURVEY, seed=3, start=1)  # (1, shots, time, receivers)
    for shot in range(3):  # shot gather s is Rec[:, :, s]
        np.testing.assert_allclose(rec[:, :, shot], seismic[0, shot], rtol=0, atol=1e-5 * np.abs(seismic).max())
    test_model = scipy_io.loadmat(out / "vmodel_test" / "svmodel3.mat")["svmodel"]
    np.testing.assert_array_equal(test_model, velocity_models("salt", 1, seed=3, start=2, shape=(20, 12))[0])
    assert json.loads((out / "dataset.json").read_text())["dataset"] == "tiny-fcnvmb-seg-salt"


def test_seg_salt_folders_pair_and_read_back_decimated(salt):
    out, _ = salt
    preset = tiny_preset("fcnvmb-seg-salt")
    pairs = fcnvmb_pairs(out / "georec_train", preset)  # srec<i> in georec_train, svmodel<i> in vmodel_train
    assert [(s.name, v.relative_to(out).as_posix()) for s, v in pairs] == [
        ("srec1.mat", "vmodel_train/svmodel1.mat"), ("srec2.mat", "vmodel_train/svmodel2.mat")]
    seismic, velocity = read_fcnvmb_sample(*pairs[0], dataset=preset)
    rec = scipy_io.loadmat(pairs[0][0])["Rec"]
    np.testing.assert_array_equal(seismic, rec[2::5].transpose(2, 0, 1))  # middle sample of each 5
    assert velocity.shape == (1, 20, 12)
    (test_seismic, test_velocity), = fcnvmb_pairs(out / "georec_test", preset)
    assert test_velocity == out / "vmodel_test" / "svmodel3.mat"


def test_resume_keeps_complete_samples_and_refuses_foreign_folders(salt, tmp_path):
    out, _ = salt
    copy = tmp_path / "copy"
    arguments = dict(dataset=tiny_preset("fcnvmb-seg-salt"), test_samples=1, survey=TINY_SURVEY, seed=3,
                     progress=False)
    generate_fcnvmb_dataset(copy, 1, **{**arguments, "test_samples": 0})
    with pytest.raises(FileExistsError, match="is not empty; pass --resume"):
        generate_fcnvmb_dataset(copy, 2, **arguments)
    with pytest.raises(FileExistsError, match="holds no run of this dataset to resume"):
        generate_fcnvmb_dataset(copy, 2, resume=True, **arguments)  # other sizes: not the same dataset
    (out / "georec_train" / "srec2.mat").rename(tmp_path / "srec2.mat")  # "interrupted" before sample 2
    try:
        summary = generate_fcnvmb_dataset(out, 2, resume=True, **arguments)
        assert summary["skipped"] == [1, 3] and summary["written"] == [2]
        assert (out / "georec_train" / "srec2.mat").is_file()
    finally:
        (tmp_path / "srec2.mat").unlink()


def test_survey_must_match_the_preset(tmp_path):
    with pytest.raises(ValueError, match=r"survey records \(time, receivers, shots\) = \(100, 12, 3\) on a \(20, 12\) "
                                         r"model, but dataset 'fcnvmb-simulated' stores \(2000, 301, 29\)"):
        generate_fcnvmb_dataset(tmp_path / "x", 1, survey=TINY_SURVEY, progress=False)
    with pytest.raises(ValueError, match="dataset must be an FCNVMB preset"):
        generate_fcnvmb_dataset(tmp_path / "x", 1, dataset="flatvel-a", progress=False)
    assert not (tmp_path / "x").exists()


def test_cli_writes_the_fcnvmb_layout(tmp_path, monkeypatch, capsys):
    register_tiny_presets(monkeypatch)
    from keras_fwi.physics import fcnvmb_files

    monkeypatch.setattr(fcnvmb_files, "fcnvmb_survey", lambda dataset, **changes: TINY_SURVEY.replace(**changes))
    out = tmp_path / "SimulateData"
    assert main(["generate", "--dataset", "tiny-fcnvmb-simulated", "--samples", "2", "--test-samples", "1",
                 "--out", str(out)]) == 0
    assert "tiny-fcnvmb-simulated layout, curvevel-a" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "georec_train").iterdir()) == ["georec1.mat", "georec2.mat"]
    assert scipy_io.whosmat(str(out / "vmodel_test" / "vmodel3.mat")) == [("vmodel", (20, 12), "single")]
    assert main(["generate", "--format", "openfwi", "--dataset", "fcnvmb-simulated", "--samples", "1",
                 "--out", str(tmp_path / "y")]) == 2
    assert "cannot be combined with --format openfwi" in capsys.readouterr().err
    assert main(["generate", "--samples", "1", "--out", str(tmp_path / "y")]) == 2
    assert "--family is required for OpenFWI's layout" in capsys.readouterr().err
    assert main(["generate", "--format", "fcnvmb", "--per-file", "2", "--samples", "1", "--out",
                 str(tmp_path / "y")]) == 2
    assert "apply to OpenFWI's layout" in capsys.readouterr().err
