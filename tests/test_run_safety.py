"""One writer per run directory, runs that resume from anywhere, and saved models that compute in float32."""

import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import yaml

import keras_fwi
from keras_fwi import artefacts, run_lock
from keras_fwi.cli import main
from keras_fwi.run_directory import RunDirectory
from keras_fwi.run_lock import LOCK_NAME, RunInUse, RunLock
from openfwi_files import write_openfwi_files

HOLD = ("import sys, time\nfrom keras_fwi.run_lock import RunLock\n"
        "with RunLock(sys.argv[1], 'keras_fwi train (test holder)'):\n"
        "    print('locked', flush=True)\n    time.sleep(120)\n")


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the lock of ``tmp_path / "run"``; killed at the end."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    yield child
    child.kill()
    child.wait()


def test_a_second_process_is_refused_with_the_holder_named(holder, tmp_path):
    with pytest.raises(RunInUse, match=rf"in use by keras_fwi train \(test holder\) \(pid {holder.pid} on "):
        with RunLock(tmp_path / "run"):
            pass


def test_train_on_a_run_directory_in_use_stops_before_touching_it(holder, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "--run-dir", str(run), "--epochs", "1", "--quiet", "--set", "data.generate=null",
                 "--set", f"data.train={tmp_path / 'absent.txt'}"])
    error = capsys.readouterr().err
    assert code == 2 and f"pid {holder.pid}" in error and "in use by" in error
    assert "Traceback" not in error and sorted(item.name for item in run.iterdir()) == [LOCK_NAME]


def test_the_lock_of_a_killed_process_is_taken_over(holder, tmp_path):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    run = tmp_path / "run"
    assert (run / LOCK_NAME).is_file()  # left behind by the killed run ...
    assert RunDirectory(run).is_empty()  # ... and it blocks no new run
    with RunLock(run, "second") as lock:
        assert lock.holder()["pid"] == os.getpid() and lock.holder()["command"] == "second"
    assert not (run / LOCK_NAME).exists()


def test_a_lock_is_released_on_an_exception_and_a_folder_it_made_is_removed(tmp_path):
    with pytest.raises(KeyError):
        with RunLock(tmp_path / "new"):
            raise KeyError("a failed start")
    assert not (tmp_path / "new").exists()
    with RunLock(tmp_path / "new"):  # a retry is not blocked
        pass


def test_without_os_locks_the_recorded_process_decides(tmp_path, monkeypatch):
    monkeypatch.setattr(run_lock, "_try_lock", lambda fd: None)  # e.g. a file system with no flock
    folder = tmp_path / "run"
    folder.mkdir()
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = {"pid": int(finished.stdout), "host": run_lock.socket.gethostname(), "command": "old"}
    (folder / LOCK_NAME).write_text(json.dumps(record))
    with RunLock(folder):  # the recorded process has exited: its lock is stale and recovered
        pass
    (folder / LOCK_NAME).write_text(json.dumps({**record, "pid": os.getppid()}))  # a live process
    with pytest.raises(RunInUse, match=f"pid {os.getppid()}.*delete .*{LOCK_NAME}"):
        with RunLock(folder):
            pass


def test_a_run_directory_that_is_a_file_gets_one_line(tmp_path, capsys):
    (tmp_path / "taken").write_text("not a folder")
    code = main(["train", "--run-dir", str(tmp_path / "taken"), "--epochs", "1", "--set", "data.generate=null",
                 "--set", "data.train=x.txt"])
    assert code == 2 and "is a file; give a folder" in capsys.readouterr().err
    assert (tmp_path / "taken").read_text() == "not a folder"


@pytest.fixture(scope="module")
def relative_run(tmp_path_factory):
    """A one-epoch run started in its data folder with relative data paths."""
    folder = tmp_path_factory.mktemp("portable")
    train_line, val_line = write_openfwi_files(folder, 2, 2)
    (folder / "train.txt").write_text(train_line + "\n")
    (folder / "val.txt").write_text(val_line + "\n")
    config = {"name": "tiny", "model": {"options": {"widths": [4, 4, 8, 8, 16]}},
              "data": {"train": "train.txt", "val": "val.txt"},
              "training": {"precision": "float32", "epochs": 1, "batch_size": 2, "jit_compile": False,
                           "figure_samples": 0, "recompute_batch_norm": False}}
    (folder / "tiny.yaml").write_text(yaml.safe_dump(config))
    before = os.getcwd()
    os.chdir(folder)
    try:
        assert main(["train", "--config", "tiny.yaml", "--run-dir", "run", "--quiet"]) == 0
    finally:
        os.chdir(before)
    return folder


def test_a_run_records_its_data_as_absolute_paths(relative_run):
    run = RunDirectory(relative_run / "run")
    assert run.config().data.train == str(relative_run / "train.txt")
    assert run.sources() == {"train": str(relative_run / "train.txt"), "val": str(relative_run / "val.txt")}


def test_a_run_resumes_and_evaluates_from_another_working_directory(relative_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = str(relative_run / "run")
    assert main(["evaluate", "--run-dir", run, "--out", str(tmp_path / "evaluation")]) == 0
    assert main(["train", "--run-dir", run, "--resume", "--epochs", "2", "--quiet"]) == 0
    assert "resumed after epoch 1 and finished 2 epochs" in capsys.readouterr().out
    assert RunDirectory(run).epochs_done() == 2


def test_a_resume_naming_the_same_data_relatively_is_not_a_difference(relative_run, monkeypatch):
    from keras_fwi.config import load_config
    from keras_fwi.training.trainer import open_run

    monkeypatch.chdir(relative_run)
    given = load_config("tiny.yaml", ["training.epochs=3"])
    config, _ = open_run(RunDirectory(relative_run / "run"), given, True, None, ())
    assert config.training.epochs == 3 and config.data.val == str(relative_run / "val.txt")


def test_a_model_trained_in_mixed_precision_is_saved_computing_in_float32(tmp_path):
    seismic = np.random.default_rng(0).normal(size=(2, 5, 1000, 70)).astype("float32")
    keras.config.set_dtype_policy("mixed_bfloat16")
    mixed = keras_fwi.models.inversionnet(widths=(4, 4, 8, 8, 16))
    mixed.compile(optimizer="adam", loss=keras_fwi.training.L1L2Loss(1.0, 0.0))
    keras.config.set_dtype_policy("float32")
    reference = keras_fwi.models.inversionnet(widths=(4, 4, 8, 8, 16))
    reference.set_weights(mixed.get_weights())
    expected = reference.predict(seismic, verbose=0)
    bf16_error = np.abs(mixed.predict(seismic, verbose=0).astype("float32") - expected).max()
    assert bf16_error > 1e-3 * np.abs(expected).max()  # the mixed model computes otherwise
    artefacts.save_model(mixed, tmp_path / "model.keras", "flatvel-a")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    assert loaded.compiled and loaded.loss.get_config()["l1"] == 1.0
    np.testing.assert_array_equal(loaded.predict(seismic, verbose=0), expected)
    assert artefacts.read_preset(tmp_path / "model.keras").name == "flatvel-a"


def test_a_float32_model_is_saved_as_it_is():
    model = keras_fwi.models.inversionnet(widths=(4, 4, 8, 8, 16))
    assert artefacts.float32_model(model) is model


@pytest.mark.slow
def test_two_trains_started_together_on_one_run_directory_do_not_mix(relative_run, tmp_path):
    """The reproduction: two runs with different settings into one --run-dir at the same moment."""
    command = [sys.executable, "-m", "keras_fwi", "train", "--config", str(relative_run / "tiny.yaml"),
               "--run-dir", str(tmp_path / "race"), "--quiet"]
    children = [subprocess.Popen(command + extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 cwd=relative_run)
                for extra in (["--epochs", "2"], ["--epochs", "3", "--set", "optimizer.learning_rate=0.01"])]
    results = [(child.wait(timeout=600), child.stderr.read()) for child in children]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    winner = [index for index, (code, _) in enumerate(results) if code == 0][0]
    loser_error = results[1 - winner][1]
    # Refused by the lock, or (arriving after the winner wrote) as a run directory that is taken.
    assert ("in use by" in loser_error or "already exists" in loser_error) and "Traceback" not in loser_error
    history = (tmp_path / "race" / "history.csv").read_text().splitlines()
    epochs = (2, 3)[winner]
    assert history[0].startswith("epoch") and len(history) == 1 + epochs  # one header, one run's rows
    saved = yaml.safe_load((tmp_path / "race" / "config.yaml").read_text())
    assert saved["training"]["epochs"] == epochs and not (tmp_path / "race" / LOCK_NAME).exists()
