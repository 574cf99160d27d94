"""generate: OpenFWI's layout, reproducible files, shards, atomic writes, resume, refusals, the CLI."""

import json

import numpy as np
import pytest

from keras_fwi.cli import main
from keras_fwi.data.sources import resolve_sources
from keras_fwi.physics import Survey
from keras_fwi.physics.families import velocity_models
from keras_fwi.physics.generate import generate_dataset, synthesize

TINY = Survey(nz=12, nx=12, dx=10.0, nt=60, dt=1e-3, frequency=15.0, source_z=1, source_x=[0, 11],
              receiver_z=1, receiver_x=list(range(12)), boundary=5)


def _generate(out, **changes):
    arguments = dict(family="flatvel-a", samples=6, per_file=2, survey=TINY, seed=5, progress=False)
    arguments.update(changes)
    return generate_dataset(out, **arguments)


def _files(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.npy"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted single-machine run that the other tests compare against."""
    out = tmp_path_factory.mktemp("reference") / "data"
    summary = _generate(out)
    return out, summary, _files(out)


def test_openfwi_layout_and_contents(reference):
    out, summary, files = reference
    assert sorted(files) == ["data1.npy", "data2.npy", "data3.npy", "model1.npy", "model2.npy", "model3.npy"]
    assert summary["written"] == [1, 2, 3] and summary["skipped"] == []
    data = np.load(out / "data2.npy", allow_pickle=False)
    model = np.load(out / "model2.npy", allow_pickle=False)
    assert data.shape == (2, 2, 60, 12) and data.dtype == np.float32
    assert model.shape == (2, 1, 12, 12) and model.dtype == np.float32
    np.testing.assert_array_equal(model[:, 0], velocity_models("flatvel-a", 2, seed=5, start=2, shape=(12, 12)))
    seismic, velocity = synthesize("flatvel-a", 2, TINY, seed=5, start=2)
    np.testing.assert_array_equal(velocity, model)
    np.testing.assert_allclose(seismic, data, rtol=0, atol=1e-5 * np.abs(data).max())
    # OpenFWI's split format: "data<TAB>model" per line, each line ending in a newline.
    train, test = (out / "train.txt").read_text(), (out / "test.txt").read_text()
    assert train.endswith("\n") and test.endswith("\n")
    pairs = [line.split("\t") for line in train.splitlines()]
    # Relative to the split file, so the folder can be moved or shared.
    assert pairs == [["data1.npy", "model1.npy"], ["data2.npy", "model2.npy"]]
    assert all(np.load(out / path, mmap_mode="r").shape[0] == 2 for pair in pairs for path in pair)
    assert test == "data3.npy\tmodel3.npy\n"
    moved = out.rename(out.parent / "moved")
    assert [pair.seismic for pair in resolve_sources(moved / "train.txt")] == [moved / "data1.npy", moved / "data2.npy"]
    moved.rename(out)
    description = json.loads((out / "dataset.json").read_text())
    assert description["family"] == "flatvel-a" and description["seed"] == 5
    assert description["survey"] == TINY.to_dict() and Survey.from_dict(description["survey"]) == TINY


def test_same_seed_gives_identical_files(reference, tmp_path):
    _generate(tmp_path / "again")
    assert _files(tmp_path / "again") == reference[2]
    _generate(tmp_path / "other", seed=6)
    assert _files(tmp_path / "other")["model1.npy"] != reference[2]["model1.npy"]


def test_shards_write_disjoint_parts_of_the_same_dataset(reference, tmp_path):
    out = tmp_path / "sharded"
    first = _generate(out, shard=(1, 2))
    second = _generate(out, shard=(0, 2))  # a second job may share the folder of the same dataset
    assert first["written"] == [2] and second["written"] == [1, 3]
    assert _files(out) == reference[2]


def test_interrupted_run_leaves_no_half_file_and_resume_finishes(reference, tmp_path, monkeypatch):
    out = tmp_path / "crash"
    real_save, calls = np.save, []

    def crashing_save(path, array, allow_pickle=False):
        calls.append(path)
        if len(calls) == 3:  # data2.npy: half written, then the machine "dies"
            with open(path, "wb") as handle:
                handle.write(b"\x93NUMPY half")
            raise RuntimeError("simulated crash")
        real_save(path, array, allow_pickle=allow_pickle)

    monkeypatch.setattr(np, "save", crashing_save)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _generate(out)
    monkeypatch.setattr(np, "save", real_save)
    assert sorted(path.name for path in out.iterdir()) == ["data1.npy", "dataset.json", "model1.npy",
                                                            "test.txt", "train.txt"]
    # A killed process (no clean-up) can leave a temporary; resume removes it.
    (out / ".data2.npy.x1y2z3.tmp.npy").write_bytes(b"partial")
    with pytest.raises(FileExistsError, match="is not empty; pass --resume"):
        _generate(out)
    summary = _generate(out, resume=True)
    assert summary["skipped"] == [1] and summary["written"] == [2, 3]
    assert _files(out) == reference[2]
    assert not list(out.glob(".*"))


def test_resume_refuses_a_different_dataset(reference, tmp_path):
    out = tmp_path / "mine"
    _generate(out, samples=2)
    with pytest.raises(ValueError, match="holds a different dataset .* family 'flatvel-a', seed 5"):
        _generate(out, samples=2, seed=9, resume=True)


def test_resume_refuses_a_folder_that_is_not_a_dataset(tmp_path):
    out = tmp_path / "foreign"
    out.mkdir()
    (out / "data1.npy").write_bytes(b"the user's own file")
    with pytest.raises(FileExistsError, match="has no dataset.json, so it holds no run to resume"):
        _generate(out, resume=True)
    assert (out / "data1.npy").read_bytes() == b"the user's own file"
    with pytest.raises(ValueError, match="is a file; give a folder"):
        _generate(out / "data1.npy")


def test_overwrite_replaces_dataset_files_only(tmp_path):
    out = tmp_path / "over"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        _generate(out, samples=2)
    _generate(out, samples=2, overwrite=True, seed=1)
    first = _files(out)
    _generate(out, samples=2, overwrite=True, seed=2)
    assert _files(out)["model1.npy"] != first["model1.npy"]
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("changes, error, message", [
    (dict(samples=5), ValueError, r"samples \(5\) must be a multiple of per_file \(2\)"),
    (dict(shard=(2, 2)), ValueError, "shard index must satisfy 0 <= index < count, got 2/2"),
    (dict(family="nope"), ValueError, "family must be one of"),
    (dict(survey="segy"), ValueError, "survey must be one of"),
    (dict(test_fraction=1.0), ValueError, r"test_fraction must be in \[0, 1\)"),
])
def test_bad_arguments_are_one_clear_error(tmp_path, changes, error, message):
    with pytest.raises(error, match=message):
        _generate(tmp_path / "bad", **changes)
    assert not (tmp_path / "bad").exists()


def test_cli_generate_and_refusal(tmp_path, capsys):
    out = tmp_path / "cli"
    arguments = ["generate", "--family", "curvevel-b", "--samples", "2", "--per-file", "1",
                 "--boundary", "4", "--seed", "3", "--out", str(out)]
    assert main(arguments) == 0
    assert "wrote 2 file pair(s)" in capsys.readouterr().out
    assert np.load(out / "data2.npy").shape == (1, 5, 1000, 70)
    assert json.loads((out / "dataset.json").read_text())["survey"]["boundary"] == 4
    assert main(arguments) == 2
    assert "is not empty; pass --resume" in capsys.readouterr().err
    assert main(arguments + ["--resume"]) == 0
    assert "wrote 0 file pair(s), kept 2" in capsys.readouterr().out


def test_cli_rejects_a_malformed_shard(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["generate", "--family", "salt", "--samples", "2", "--shard", "2", "--out", str(tmp_path)])
    assert info.value.code == 2
    assert "--shard must look like I/N" in capsys.readouterr().err


def test_files_cycle_through_absorbing_layers(reference, tmp_path):
    """A list of surveys: file i uses entry (i - 1) % len; same maps, each file its layer's data."""
    damping = TINY.replace(absorbing="damping", boundary=5)
    _generate(tmp_path / "cycle", survey=[TINY, damping])
    files = _files(tmp_path / "cycle")
    for name in ("data1.npy", "data3.npy", "model1.npy", "model2.npy", "model3.npy"):
        assert files[name] == reference[2][name]
    data2 = np.load(tmp_path / "cycle" / "data2.npy", allow_pickle=False)
    expected, _ = synthesize("flatvel-a", 2, damping, seed=5, start=2)
    np.testing.assert_allclose(data2, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    cpml = np.load(reference[0] / "data2.npy", allow_pickle=False)
    assert np.abs(data2 - cpml).max() > 1e-3 * np.abs(cpml).max()  # the layers' data do differ
    description = json.loads((tmp_path / "cycle" / "dataset.json").read_text())
    assert description["survey"] == TINY.to_dict()
    assert description["surveys"] == [TINY.to_dict(), damping.to_dict()]
    with pytest.raises(ValueError, match="differ only in their absorbing layer"):
        _generate(tmp_path / "bad", survey=[TINY, TINY.replace(dt=5e-4)])
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="non-empty list of surveys"):
        _generate(tmp_path / "empty", survey=[])
    assert not (tmp_path / "empty").exists()


def test_cli_absorbing_list(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["generate", "--family", "salt", "--samples", "2", "--absorbing", "cpml,pml", "--out", str(tmp_path)])
    assert info.value.code == 2 and "comma list of them" in capsys.readouterr().err
    assert main(["generate", "--family", "salt", "--samples", "2", "--absorbing", "cpml,damping", "--boundary", "20",
                 "--out", str(tmp_path / "out")]) == 2
    assert "drop --boundary" in capsys.readouterr().err and not (tmp_path / "out").exists()
