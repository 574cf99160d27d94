"""Resumes that cannot be poisoned or blocked (issue 12): one fault-injection test per case."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import keras
import pytest
import yaml

from keras_fwi.config import load_config
from keras_fwi.run_directory import RunDirectory, resume_config
from keras_fwi.training import trainer
from keras_fwi.training.callbacks import ResumableBackup, non_finite_state
from openfwi_files import write_openfwi_files

QUICK = ["training.recompute_batch_norm=false"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Two files of 4 FlatVel-A-shaped samples: one trains, one validates (``data.val`` set)."""
    folder = tmp_path_factory.mktemp("resume")
    train_line, val_line = write_openfwi_files(folder, 2, 4)
    (folder / "train.txt").write_text(train_line + "\n")
    (folder / "val.txt").write_text(val_line + "\n")
    config = {"name": "tiny", "model": {"options": {"widths": [4, 4, 8, 8, 16]}},
              "data": {"train": str(folder / "train.txt"), "val": str(folder / "val.txt")},
              "optimizer": {"learning_rate": 1e-3},
              "training": {"precision": "float32",
                           "epochs": 2, "batch_size": 2, "jit_compile": False, "figure_samples": 0}}
    (folder / "tiny.yaml").write_text(yaml.safe_dump(config))
    return folder / "tiny.yaml"


def test_a_non_finite_state_is_never_backed_up(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    backup = ResumableBackup(tmp_path)
    backup.set_model(model)
    backup.on_epoch_end(0)
    assert ResumableBackup.epochs_done(tmp_path) == 1 and backup.refused is None
    model.optimizer.variables[-1].assign(np.full(model.optimizer.variables[-1].shape, np.nan))  # poisoned moment
    backup.on_epoch_end(1)
    assert ResumableBackup.epochs_done(tmp_path) == 1  # epoch 1 stays the restore point
    assert model.stop_training and "1 weight or optimizer arrays are not finite" in backup.refused


def test_resume_accepts_safe_overrides_and_names_every_other_difference(tiny):
    saved = load_config(tiny)
    safe = load_config(tiny, ["optimizer.learning_rate=1e-5", "training.epochs=9", "training.batch_size=1"])
    assert resume_config(saved, safe) == safe and resume_config(saved, None) == saved
    other = load_config(tiny, ["training.seed=3", "model.options.widths=[2,2,2,2,2]", "training.epochs=9"])
    with pytest.raises(ValueError) as error:
        resume_config(saved, other)
    message = str(error.value)
    assert "model.options: saved {'widths': [4, 4, 8, 8, 16]}, given {'widths': [2, 2, 2, 2, 2]}" in message
    assert "training.seed: saved 0, given 3" in message and "training.epochs" not in message.split(". Only")[0]


def test_divergence_keeps_the_last_finite_backup_and_a_lower_rate_resumes(tiny, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(trainer.TrainingDiverged, match="--resume --set optimizer.learning_rate"):
        trainer.train(load_config(tiny, ["optimizer.learning_rate=1e6", "training.epochs=3", *QUICK]), run, verbose=0)
    done = RunDirectory(run).epochs_done()
    if done:  # whatever was committed is finite (weights; the optimizer state is checked in the unit test above)
        model = trainer.build_model(load_config(tiny))
        model.compile(optimizer=keras.optimizers.AdamW(), loss="mae")
        assert ResumableBackup.restore(model, run / "backup") == done and not non_finite_state(model)
    lower = load_config(run / "config.yaml", ["optimizer.learning_rate=1e-3"])
    result = trainer.train(lower, run, resume=True, verbose=0)
    assert result.resumed_from_epoch == done
    assert all(np.isfinite(w).all() for w in result.model.get_weights())
    assert RunDirectory(run).config().optimizer.learning_rate == 1e-3


def test_a_failed_start_leaves_a_directory_the_same_command_reuses(tiny, tmp_path, monkeypatch):
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="unknown model.options key"):
        trainer.train(load_config(tiny, ["model.options.nope=1"]), run, verbose=0)
    assert not run.exists()  # nothing written before data and model are ready

    def crash(*args, **kwargs):
        raise RuntimeError("injected failure in epoch 1")

    config = load_config(tiny, ["training.epochs=1", *QUICK])
    monkeypatch.setattr(trainer, "fit_epochs", crash)
    with pytest.raises(RuntimeError, match="injected"):
        trainer.train(config, run, verbose=0)
    assert (run / "config.yaml").is_file() and RunDirectory(run).epochs_done() == 0
    monkeypatch.undo()
    assert trainer.train(config, run, verbose=0).epochs == 1  # the same call again: reused
    with pytest.raises(FileExistsError, match="already exists"):  # a finished epoch: never overwritten
        trainer.train(config, run, verbose=0)


def test_init_from_is_recorded_and_used_by_a_resume_before_the_first_backup(tiny, tmp_path, monkeypatch):
    donor = trainer.build_model(load_config(tiny))
    donor.save(tmp_path / "donor.keras")
    run, used = tmp_path / "run", []
    config = load_config(tiny, ["training.epochs=1", *QUICK])
    monkeypatch.setattr(trainer, "fit_epochs", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        trainer.train(config, run, init_from=str(tmp_path / "donor.keras"), verbose=0)
    monkeypatch.undo()
    assert RunDirectory(run).start()["init_from"] == str((tmp_path / "donor.keras").resolve())
    original = trainer._initialise_from
    monkeypatch.setattr(trainer, "_initialise_from", lambda m, s, a: (used.append(s), original(m, s, a)))
    trainer.train(None, run, resume=True, verbose=0)
    assert used == [str((tmp_path / "donor.keras").resolve())]


def test_without_data_val_metrics_are_on_the_training_data(tiny, tmp_path):
    config = load_config(tiny, ["data.val=null", "training.epochs=1", *QUICK])
    messages = []
    result = trainer.train(config, tmp_path / "run", verbose=0, progress=messages.append)
    assert result.metrics["evaluated_on"] == "training (no data.val)"
    assert np.isfinite(result.metrics["velocity_mae"]) and (tmp_path / "run" / "checkpoints" / "best.keras").is_file()
    assert any("no data.val" in message for message in messages)


@pytest.mark.parametrize("epochs", ["0", "-1"])
def test_non_positive_epochs_are_refused(epochs, tmp_path):
    done = subprocess.run([sys.executable, "-m", "keras_fwi", "train", "--epochs", epochs, "--run-dir",
                           str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert f"training.epochs must be a positive int, got {epochs}" in done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_ctrl_c_ends_with_one_line_and_the_same_command_plus_resume_continues(tiny, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "keras_fwi", "train", "--config", str(tiny), "--run-dir", str(run), "--quiet",
               "--epochs", "3"]
    # As in a terminal: Ctrl-C is delivered. (A suite started in the background of a non-interactive shell
    # ignores SIGINT, the child would inherit that, and Python then never raises KeyboardInterrupt.)
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 600
    while RunDirectory(run).epochs_done() < 1:
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.05)
    assert child.poll() is None
    os.kill(child.pid, signal.SIGINT)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr
    lines = [line for line in stderr.splitlines() if line.strip() and "cuda" not in line.lower()
             and "absl" not in line]
    assert lines == [f"keras_fwi train: interrupted; continue with: keras_fwi train --run-dir {run} --resume"]
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed after epoch" in resumed.stdout and RunDirectory(run).epochs_done() == 3


def test_a_resume_with_another_batch_size_keeps_milestones_at_their_epochs(tiny):
    config = load_config(tiny, ["optimizer.milestones=[3]", "optimizer.gamma=0.5", "optimizer.learning_rate=1e-3"])
    # Two epochs of 20 steps were done (40 iterations); the new batch size gives 10 steps per epoch, so
    # epoch 3 now starts at iteration 40 + 10 = 50.
    schedule = trainer._optimizer(config, steps_per_epoch=10, replicas=1, resumed=(2, 40))._learning_rate  # the schedule itself
    assert float(schedule(49)) == pytest.approx(1e-3) and float(schedule(50)) == pytest.approx(5e-4)
    fresh = trainer._optimizer(config, steps_per_epoch=10, replicas=1)._learning_rate
    assert float(fresh(29)) == pytest.approx(1e-3) and float(fresh(30)) == pytest.approx(5e-4)
