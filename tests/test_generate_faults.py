"""generate and datasets --check under faults: shards sharing a folder, bad arguments, corrupt
dataset.json, Ctrl-C, unwritable --out, broken data files; each a one-line error and no lost file."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data_files import write_pair
from keras_fwi.cli import main
from keras_fwi.data import get_preset
from keras_fwi.physics import Survey, generate
from keras_fwi.physics.families import velocity_models
from keras_fwi.physics.generate import generate_dataset

TINY = Survey(nz=12, nx=12, dx=10.0, nt=60, dt=1e-3, frequency=15.0, source_z=1, source_x=[0, 11],
              receiver_z=1, receiver_x=list(range(12)), boundary=5)
GENERATE = ["generate", "--family", "flatvel-a", "--samples", "3", "--per-file", "1"]


def _generate(out, **changes):
    arguments = dict(family="flatvel-a", samples=6, per_file=1, survey=TINY, seed=5, progress=False)
    arguments.update(changes)
    return generate_dataset(out, **arguments)


def _fake_synthesize(family, samples, survey=None, seed=0, start=0, smooth=None, batch_size=4):
    """Real velocity models, constant records: the file logic without minutes of simulation."""
    velocity = velocity_models(family, samples, seed, start, (survey.nz, survey.nx), smooth)
    seismic = np.full((samples, survey.shots, survey.nt, survey.receivers), float(start), np.float32)
    return seismic, velocity[:, None]


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(generate, "synthesize", _fake_synthesize)


def _state(folder: Path) -> dict:
    """Every file under ``folder`` with its bytes (hidden ones too)."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def _one_error_line(capsys, command="generate") -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"keras_fwi {command}: error: "), err
    return err


# --- shards sharing one folder -------------------------------------------------------------------------------------

def test_a_shard_leaves_the_other_shards_temporaries_alone(tmp_path, monkeypatch):
    out = tmp_path / "shared"
    out.mkdir()
    neighbour = out / ".data5.npy.inflight.tmp.npy"  # shard 0/2 (files 1, 3, 5) is writing data5.npy
    neighbour.write_bytes(b"half of a neighbour's file")
    summary = _generate(out, shard=(1, 2))
    assert summary["written"] == [2, 4, 6]
    assert neighbour.read_bytes() == b"half of a neighbour's file"
    # Resuming removes a temporary of its own file that a killed run left, and only that.
    own = out / ".model4.npy.killed.tmp.npy"
    own.write_bytes(b"stale")
    other = out / ".model3.npy.inflight.tmp.npy"
    other.write_bytes(b"in flight")
    summary = _generate(out, shard=(1, 2), resume=True)
    assert summary["skipped"] == [2, 4, 6] and not own.exists()
    assert neighbour.read_bytes() == b"half of a neighbour's file" and other.read_bytes() == b"in flight"
    # Without --resume a second run of the same shard may be a live duplicate: its temporaries stay.
    own.write_bytes(b"maybe live")
    monkeypatch.setattr(generate, "synthesize", None)  # refused before computing anything
    with pytest.raises(FileExistsError, match="data2.npy already exists; pass --resume"):
        _generate(out, shard=(1, 2))
    assert own.read_bytes() == b"maybe live"


def test_a_shard_starting_while_another_writes_dataset_json(tmp_path):
    out = tmp_path / "shared"
    out.mkdir()
    (out / ".dataset.json.x1y2.tmp.json").write_text("{")  # another shard's description, not yet renamed
    assert _generate(out, samples=2, shard=(0, 2))["written"] == [1]
    assert (out / ".dataset.json.x1y2.tmp.json").read_text() == "{"
    other = tmp_path / "other"
    other.mkdir()
    (other / ".dataset.json.x1y2.tmp.json").write_text("{")
    (other / ".notes.tmp").write_text("mine")  # anything else still makes the folder not empty
    with pytest.raises(FileExistsError, match="is not empty"):
        _generate(other, samples=2, shard=(0, 2))


def test_fcnvmb_resume_removes_only_its_own_stale_temporaries(tmp_path):
    pytest.importorskip("scipy.io")
    from fcnvmb_support import TINY_SURVEY, tiny_preset
    from keras_fwi.physics.fcnvmb_files import generate_fcnvmb_dataset

    arguments = dict(dataset=tiny_preset("fcnvmb-seg-salt"), survey=TINY_SURVEY, seed=3, progress=False)
    out = tmp_path / "salt"
    generate_fcnvmb_dataset(out, 1, **arguments)
    stale = out / "georec_train" / ".srec1.mat.killed.tmp.mat"
    stale.write_bytes(b"stale")
    user = out / "georec_train" / ".srec_notes.tmp.mat"
    user.write_bytes(b"the user's")
    assert generate_fcnvmb_dataset(out, 1, resume=True, **arguments)["skipped"] == [1]
    assert not stale.exists() and user.read_bytes() == b"the user's"


# --- every argument checked before the first write --------------------------------------------------------------

@pytest.mark.parametrize("bad, message", [
    (["--smooth", "-1"], "--smooth must be a positive Gaussian sigma in cells, got -1.0"),
    (["--smooth", "nan"], "--smooth must be a positive Gaussian sigma"),
    (["--batch-size", "0"], "--batch-size must be a positive int, got 0"),
    (["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
    (["--per-file", "0"], "--per-file must be a positive int, got 0"),
    (["--samples", "two"], "--samples must be an integer, got 'two'"),
    (["--boundary", "-3"], "--boundary must be a positive int, got -3"),
    (["--test-samples", "-1"], "--test-samples must be an integer >= 0, got -1"),
])
def test_cli_bad_argument_writes_nothing(tmp_path, capsys, bad, message):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(GENERATE + bad + ["--out", str(out)])
    assert info.value.code == 2 and message in capsys.readouterr().err
    assert not out.exists()


def test_cli_bad_argument_then_corrected_retry(tmp_path, capsys, fast):
    out = tmp_path / "out"
    with pytest.raises(SystemExit):
        main(GENERATE + ["--smooth", "-1", "--out", str(out)])
    assert main(GENERATE + ["--smooth", "2", "--out", str(out)]) == 0  # not "a different dataset"
    assert "wrote 3 file pair(s)" in capsys.readouterr().out
    out = tmp_path / "out2"
    assert main(GENERATE + ["--samples", "4", "--per-file", "3", "--out", str(out)]) == 2
    assert "samples (4) must be a multiple of per_file (3)" in _one_error_line(capsys) and not out.exists()
    assert main(GENERATE + ["--format", "fcnvmb", "--survey", "openfwi", "--out", str(out)]) == 2
    assert "apply to OpenFWI's layout" in _one_error_line(capsys) and not out.exists()
    assert main(GENERATE + ["--out", str(out)]) == 0
    assert "wrote 3 file pair(s)" in capsys.readouterr().out


@pytest.mark.parametrize("changes, message", [
    (dict(smooth=-1.0), "smooth must be a positive Gaussian sigma"),
    (dict(smooth=float("inf")), "smooth must be a positive Gaussian sigma"),
    (dict(batch_size=0), "batch_size must be a positive int, got 0"),
    (dict(seed=-1), "seed must be an integer >= 0, got -1"),
])
def test_library_checks_every_argument_before_writing(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        _generate(tmp_path / "bad", samples=2, **changes)
    assert not (tmp_path / "bad").exists()
    pytest.importorskip("scipy.io")
    from fcnvmb_support import TINY_SURVEY, tiny_preset
    from keras_fwi.physics.fcnvmb_files import generate_fcnvmb_dataset

    with pytest.raises(ValueError, match=message):
        generate_fcnvmb_dataset(tmp_path / "fcnvmb", 1, dataset=tiny_preset(), survey=TINY_SURVEY, progress=False,
                                **changes)
    assert not (tmp_path / "fcnvmb").exists()


def test_unusable_out_is_refused_before_computing(tmp_path, capsys, fast):
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    assert main(GENERATE + ["--out", str(a_file)]) == 2
    assert f"--out {a_file} is a file; give a folder" in _one_error_line(capsys)
    assert main(GENERATE + ["--out", str(a_file / "sub")]) == 2
    assert f"cannot be made: {a_file} is a file" in _one_error_line(capsys)
    assert a_file.read_text() == "mine"
    if Path("/sys/kernel").is_dir():  # sysfs: nobody, root included, can create a file there
        assert main(GENERATE + ["--out", "/sys/keras_fwi_out"]) == 2
        assert "cannot write in /sys" in _one_error_line(capsys)


def test_fcnvmb_preset_mixes_are_one_line(tmp_path, capsys, monkeypatch, fast):
    pytest.importorskip("scipy.io")
    from fcnvmb_support import TINY_SURVEY, register_tiny_presets
    from keras_fwi.physics import fcnvmb_files

    register_tiny_presets(monkeypatch)
    monkeypatch.setattr(fcnvmb_files, "fcnvmb_survey", lambda dataset, **changes: TINY_SURVEY.replace(**changes))
    out = tmp_path / "out"
    assert main(["generate", "--dataset", "flatvel-a", "--samples", "1", "--out", str(out)]) == 2
    assert "--dataset flatvel-a is not an FCNVMB preset" in _one_error_line(capsys)
    assert main(["generate", "--dataset", "tiny-fcnvmb-simulated", "--per-file", "500", "--samples", "1",
                 "--out", str(out)]) == 2
    assert "--per-file apply to OpenFWI's layout" in _one_error_line(capsys) and not out.exists()
    assert main(["generate", "--dataset", "tiny-fcnvmb-simulated", "--family", "salt", "--survey", "fcnvmb",
                 "--samples", "1", "--out", str(out)]) == 0
    assert "tiny-fcnvmb-simulated layout, salt" in capsys.readouterr().out
    # An FCNVMB folder is not an OpenFWI run to resume, and the other way round.
    assert main(GENERATE + ["--resume", "--out", str(out)]) == 2
    assert "holds a different dataset" in _one_error_line(capsys)
    openfwi = tmp_path / "openfwi"
    assert main(GENERATE + ["--out", str(openfwi)]) == 0
    capsys.readouterr()
    assert main(["generate", "--dataset", "tiny-fcnvmb-simulated", "--samples", "1", "--resume",
                 "--out", str(openfwi)]) == 2
    assert "holds no run of this dataset to resume" in _one_error_line(capsys)


# --- a corrupt dataset.json ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, problem", [('{"family": "flat', "is not a readable dataset description"),
                                           ("[1, 2]", "holds a JSON list, not a dataset description")])
@pytest.mark.parametrize("flags", [["--resume"], ["--shard", "0/2"]])
def test_corrupt_dataset_json_is_named(tmp_path, capsys, fast, text, problem, flags):
    out = tmp_path / "out"
    out.mkdir()
    (out / "dataset.json").write_text(text)
    before = _state(out)
    assert main(GENERATE + flags + ["--out", str(out)]) == 2
    err = _one_error_line(capsys)
    assert f"{out / 'dataset.json'} {problem}" in err
    assert "choose another --out, or pass --overwrite" in err
    assert _state(out) == before
    assert main(GENERATE + ["--overwrite", "--out", str(out)]) == 0  # the fix the message names
    assert json.loads((out / "dataset.json").read_text())["family"] == "flatvel-a"


def test_corrupt_fcnvmb_dataset_json_is_named(tmp_path):
    pytest.importorskip("scipy.io")
    from fcnvmb_support import TINY_SURVEY, tiny_preset
    from keras_fwi.physics.fcnvmb_files import generate_fcnvmb_dataset

    out = tmp_path / "out"
    out.mkdir()
    (out / "dataset.json").write_bytes(b"\xff\xfe not json")
    with pytest.raises(ValueError, match="dataset.json is not a readable dataset description"):
        generate_fcnvmb_dataset(out, 1, dataset=tiny_preset(), survey=TINY_SURVEY, resume=True, progress=False)
    assert (out / "dataset.json").read_bytes() == b"\xff\xfe not json"


# --- Ctrl-C -----------------------------------------------------------------------------------------------------

def test_ctrl_c_leaves_complete_files_and_resume_finishes(tmp_path, capsys, monkeypatch):
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return _fake_synthesize(*args, **kwargs)

    monkeypatch.setattr(generate, "synthesize", interrupted)
    out = tmp_path / "out"
    assert main(GENERATE + ["--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "keras_fwi generate: interrupted; the files already written are complete: continue with the same " \
           "command plus --resume" in err and "Traceback" not in err
    assert sorted(path.name for path in out.iterdir()) == ["data1.npy", "dataset.json", "model1.npy", "test.txt",
                                                            "train.txt"]
    assert np.load(out / "data1.npy").shape == (1, 5, 1000, 70) and np.load(out / "model1.npy").shape == (1, 1, 70, 70)
    assert main(GENERATE + ["--resume", "--out", str(out)]) == 0
    assert "wrote 2 file pair(s), kept 1" in capsys.readouterr().out
    assert np.load(out / "data3.npy")[0, 0, 0, 0] == 2.0  # sample 2's records
    assert not [path for path in out.iterdir() if path.name.startswith(".")]


# --- datasets --check --------------------------------------------------------------------------------------------

def test_check_starts_no_tensorflow(tmp_path):
    write_pair(tmp_path, 1, samples=1, preset=get_preset("flatvel-a"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_")}  # TensorFlow's own noise
    result = subprocess.run([sys.executable, "-m", "keras_fwi", "datasets", "--check", str(tmp_path), "--dataset",
                             "flatvel-a"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0 and "1 file(s), 1 labelled samples, all checks passed" in result.stdout
    assert result.stderr == ""  # no oneDNN / cuda / I0000 start-up lines


def test_check_names_the_bad_file(tmp_path, capsys):
    missing = tmp_path / "missing"
    assert main(["datasets", "--check", str(missing), "--dataset", "flatvel-a"]) == 2
    assert f"source {missing} does not exist" in _one_error_line(capsys, "datasets")
    data, model = write_pair(tmp_path, 1, samples=2, preset=get_preset("flatvel-a"))
    whole = data.read_bytes()
    data.write_bytes(whole[: len(whole) // 2])
    assert main(["datasets", "--check", str(tmp_path), "--dataset", "flatvel-a"]) == 2
    assert f"{data} is truncated" in _one_error_line(capsys, "datasets")
    data.write_bytes(b"garbage, not an array")
    assert main(["datasets", "--check", str(tmp_path), "--dataset", "flatvel-a"]) == 2
    assert f"{data} is not a .npy array file" in _one_error_line(capsys, "datasets")
    data.write_bytes(whole[:60])  # cut inside the header
    assert main(["datasets", "--check", str(tmp_path), "--dataset", "flatvel-a"]) == 2
    assert str(data) in _one_error_line(capsys, "datasets")
    binary = tmp_path / "shots.mat"
    binary.write_bytes(b"\x93\xff\x00 MATLAB")
    assert main(["datasets", "--check", str(binary), "--dataset", "flatvel-a"]) == 2
    err = _one_error_line(capsys, "datasets")
    assert f"{binary} is not a split file" in err and ".mat files are read by the FCNVMB presets" in err
