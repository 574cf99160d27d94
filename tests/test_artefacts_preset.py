"""Artefacts carry their dataset preset: .keras files, run directories and ONNX metadata; --dataset only fills gaps."""

from __future__ import annotations

import json
import zipfile

import keras
import numpy as np
import pytest
import yaml
from export_support import raw_seismic, small_inversionnet

from keras_fwi import artefacts
from keras_fwi.cli import main
from keras_fwi.data import get_preset


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The same small InversionNet saved plainly and with the flatvel-a preset recorded."""
    folder = tmp_path_factory.mktemp("artefacts")
    model = small_inversionnet(seed=4)
    model.save(folder / "plain.keras")
    artefacts.save_model(model, folder / "recorded.keras", dataset="flatvel-a")
    return folder, model


def test_the_preset_travels_inside_the_keras_file(saved):
    folder, model = saved
    preset = artefacts.read_preset(folder / "recorded.keras")
    assert preset == get_preset("flatvel-a")  # every constant, not just the name
    record = json.loads(zipfile.ZipFile(folder / "recorded.keras").read(artefacts.MEMBER))
    assert record["dataset"] == "flatvel-a" and record["preset"]["data_min"] == -26.95
    assert (record["input_units"], record["output_units"]) == ("normalised", "normalised")
    assert artefacts.read_preset(folder / "plain.keras") is None
    # Keras itself still reads the file and ignores the extra member.
    loaded = keras.saving.load_model(folder / "recorded.keras", safe_mode=True)
    x = raw_seismic((5, 1000, 70), batch=1, seed=2) / 60
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=0, atol=1e-6)


def test_a_recorded_preset_is_kept_over_the_shipped_one(saved, tmp_path):
    """The artefact's constants win: a preset edited before saving comes back as saved."""
    folder, model = saved
    custom = get_preset("flatvel-a").replace(data_min=-30.0, data_max=60.0)
    artefacts.save_model(model, tmp_path / "custom.keras", dataset=custom)
    assert artefacts.read_preset(tmp_path / "custom.keras").data_min == -30.0


def test_attach_preset_to_a_plain_file_and_conflicts(saved, tmp_path):
    folder, _ = saved
    target = tmp_path / "m.keras"
    target.write_bytes((folder / "plain.keras").read_bytes())
    artefacts.attach_preset(target, "curvevel-a")
    assert artefacts.read_preset(target).name == "curvevel-a"
    with pytest.raises(ValueError, match="already records dataset 'curvevel-a', not 'flatvel-a'"):
        artefacts.attach_preset(target, "flatvel-a")
    artefacts.attach_preset(target, "flatvel-a", overwrite=True)
    assert artefacts.read_preset(target).name == "flatvel-a"
    assert zipfile.ZipFile(target).namelist().count(artefacts.MEMBER) == 1


def test_dataset_conflict_names_both():
    recorded = get_preset("flatvel-a")
    assert artefacts.resolve_preset(recorded, None, "model m.keras") is recorded
    assert artefacts.resolve_preset(recorded, "FlatVel_A", "model m.keras") is recorded
    assert artefacts.resolve_preset(None, "style-b", "model m.keras").name == "style-b"
    with pytest.raises(ValueError, match=r"--dataset curvevel-a \(dataset=\) conflicts with model m.keras, which "
                                         r"records dataset 'flatvel-a'"):
        artefacts.resolve_preset(recorded, "curvevel-a", "model m.keras")


def test_corrupt_model_file_is_named(tmp_path, capsys):
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match=f"{bad} is not a valid .keras file"):
        artefacts.load_model(bad)
    truncated = tmp_path / "truncated.keras"
    with zipfile.ZipFile(truncated, "w") as archive:
        archive.writestr("metadata.json", "{}")
    with pytest.raises(ValueError, match=f"{truncated} is not a valid .keras file"):
        artefacts.load_model(truncated)
    assert main(["evaluate", "--checkpoint", str(bad), "--data", str(tmp_path), "--dataset", "flatvel-a"]) == 2
    err = capsys.readouterr().err
    assert f"{bad} is not a valid .keras file" in err and "File not found" not in err
    with pytest.raises(FileNotFoundError, match="does not exist"):
        artefacts.load_model(tmp_path / "absent.keras")


def test_evaluate_refuses_a_conflicting_dataset(saved, tmp_path, capsys):
    folder, _ = saved
    assert main(["evaluate", "--checkpoint", str(folder / "recorded.keras"), "--data", str(tmp_path),
                 "--dataset", "style-a"]) == 2
    assert "--dataset style-a (dataset=) conflicts with model" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", str(folder / "plain.keras"), "--data", str(tmp_path)]) == 2
    assert "records no dataset preset" in capsys.readouterr().err


def test_run_directory_preset(tmp_path):
    """preset.json wins; a run from before presets were recorded falls back to its config.yaml."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"name": "old", "data": {"dataset": "style-b"}}))
    assert artefacts.read_preset(tmp_path).name == "style-b"
    artefacts.write_run_preset(tmp_path, "curvefault-a")
    assert artefacts.read_preset(tmp_path) == get_preset("curvefault-a")
    (tmp_path / "empty").mkdir()
    assert artefacts.read_preset(tmp_path / "empty") is None


@pytest.fixture(scope="module")
def exported(saved):
    """Both files exported without --dataset."""
    from keras_fwi.export import export_onnx

    folder, _ = saved
    infos = {name: export_onnx(folder / f"{name}.keras", folder / f"{name}.onnx") for name in ("recorded", "plain")}
    return folder, infos


def test_export_takes_the_preset_from_the_model(exported, tmp_path):
    from keras_fwi.export import Normalization, export_onnx

    folder, infos = exported
    recorded, plain = infos["recorded"], infos["plain"]
    assert recorded.props["dataset"] == "flatvel-a" and recorded.preset == get_preset("flatvel-a")
    assert recorded.normalization == Normalization(-26.95, 52.77, 1500.0, 4500.0, dataset="flatvel-a")
    assert "dataset" not in plain.props and plain.normalization is None and plain.preset is None
    with pytest.raises(ValueError, match="--dataset curvevel-a .* conflicts with model .*recorded.keras, which "
                                         "records dataset 'flatvel-a'"):
        export_onnx(folder / "recorded.keras", tmp_path / "x.onnx", dataset="curvevel-a")
    assert not (tmp_path / "x.onnx").exists()


def test_predict_states_units_from_the_metadata_and_dataset_fills_a_gap(exported, tmp_path, capsys):
    folder, _ = exported
    np.save(tmp_path / "raw.npy", raw_seismic((5, 1000, 70), batch=2, seed=9))

    def predict(model, *extra):
        out = tmp_path / f"{model}{len(extra)}"
        code = main(["predict", "--model", str(folder / f"{model}.onnx"), str(tmp_path / "raw.npy"), "--out",
                     str(out), "--provider", "cpu", "--quiet", *extra])
        captured = capsys.readouterr()
        return code, captured, (np.load(out / "raw_velocity.npy") if code == 0 else None)

    code, captured, recorded = predict("recorded")
    assert code == 0
    assert ("input: raw amplitudes (normalised with flatvel-a constants before the model); output: m/s; "
            "dataset flatvel-a") in captured.out
    code, captured, _ = predict("plain")
    assert code == 0 and "input: normalised values (the model records no normalisation constants" in captured.out
    assert "output: normalised; no dataset recorded" in captured.out
    code, captured, filled = predict("plain", "--dataset", "flatvel-a")
    assert code == 0 and "output: m/s; dataset flatvel-a" in captured.out
    np.testing.assert_allclose(filled, recorded, rtol=0, atol=1e-6 * 4500)
    assert 1000 < filled.mean() < 5000  # m/s, not [-1, 1]
    code, captured, _ = predict("recorded", "--dataset", "curvevel-a")
    assert code == 2 and "--dataset curvevel-a (dataset=) conflicts with ONNX model" in captured.err
    assert "records dataset 'flatvel-a'" in captured.err


def test_openfwi_survey_matches_the_preset():
    """Survey.openfwi's constants and the flatvel-a preset's are the same facts (until one derives from the other)."""
    from keras_fwi.physics import Survey

    assert Survey(**get_preset("flatvel-a").survey_fields()) == Survey.openfwi(absorbing="damping")
    with pytest.raises(ValueError, match="'fcnvmb-seg-salt' does not record dt, frequency"):
        get_preset("fcnvmb-seg-salt").survey_fields()
