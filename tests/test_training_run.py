"""`keras_fwi train` end to end on tiny OpenFWI-format files: outputs, refusal to clobber, SIGKILL + --resume."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import keras
import pytest
import yaml

from keras_fwi.cli import main
from keras_fwi.config import load_config
from keras_fwi.training.trainer import train
from openfwi_files import write_openfwi_files

FILES, PER_FILE = 3, 8


@pytest.fixture(scope="module")
def tiny_openfwi(tmp_path_factory):
    """Three files of 8 FlatVel-A-shaped samples; files 1–2 train, file 3 validates."""
    folder = tmp_path_factory.mktemp("openfwi")
    lines = write_openfwi_files(folder, FILES, PER_FILE)
    (folder / "train.txt").write_text("\n".join(lines[:2]) + "\n")
    (folder / "val.txt").write_text(lines[2] + "\n")
    config = {
        "name": "tiny",
        "model": {"arch": "inversionnet", "options": {"widths": [4, 4, 8, 8, 16]}},
        "data": {"dataset": "flatvel-a", "train": str(folder / "train.txt"), "val": str(folder / "val.txt")},
        "optimizer": {"learning_rate": 1e-3},
        "training": {"precision": "float32", "epochs": 4, "batch_size": 4, "jit_compile": False, "figure_samples": 2},
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_writes_a_complete_run(tiny_openfwi, tmp_path):
    config = load_config(tiny_openfwi, ["training.epochs=2"])
    result = train(config, tmp_path / "run", verbose=0)
    run = tmp_path / "run"
    for name in ("config.yaml", "model.keras", "metrics.json", "predictions.png", "history.csv",
                 "checkpoints/last.keras", "checkpoints/best.keras", "backup/state.json"):
        assert (run / name).is_file(), name
    assert list((run / "logs").rglob("events.out.tfevents.*")), "TensorBoard logs missing"
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("mae", "rmse", "ssim", "velocity_mae", "velocity_rmse", "baseline_mean_map_mae_m_s"):
        assert np.isfinite(metrics[key]), key
    assert metrics["velocity_mae"] == pytest.approx(metrics["mae"] * 1500, rel=1e-4)  # (4500 − 1500) / 2
    assert result.metrics == metrics
    restored = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert restored.count_params() == result.model.count_params()

    with pytest.raises(FileExistsError, match="already exists and is not empty; pass --resume"):
        train(config, run, verbose=0)

    # keras_fwi evaluate on the run: the saved model on the run's validation files gives the same numbers.
    assert main(["evaluate", "--run-dir", str(run)]) == 0
    evaluated = json.loads((run / "evaluation" / "metrics.json").read_text())
    for key in ("mae", "rmse", "ssim", "velocity_mae"):
        assert evaluated[key] == pytest.approx(metrics[key], rel=1e-5), key
    assert (run / "evaluation" / "velocity.png").is_file() and (run / "evaluation" / "seismic.png").is_file()
    assert main(["evaluate", "--run-dir", str(run)]) == 2  # results exist: refused without --overwrite


def _cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "keras_fwi", "train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def _final_weights(run):
    return keras.saving.load_model(run / "checkpoints" / "last.keras", safe_mode=True).get_weights()


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_finishes_exactly(tiny_openfwi, tmp_path):
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    done = _cli("--config", str(tiny_openfwi), "--run-dir", str(straight), "--quiet")
    assert done.wait(timeout=600) == 0, done.stdout.read()

    victim = _cli("--config", str(tiny_openfwi), "--run-dir", str(crashed), "--quiet")
    state = crashed / "backup" / "state.json"
    deadline = time.monotonic() + 600
    while not (state.is_file() and json.loads(state.read_text())["epoch"] >= 1):
        assert victim.poll() is None, victim.stdout.read()
        assert time.monotonic() < deadline, "training never finished its first epoch"
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)  # now inside epoch 2 of 4
    victim.wait(timeout=60)
    assert not (crashed / "metrics.json").exists()

    resumed = _cli("--run-dir", str(crashed), "--resume")
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output
    assert "resuming" in output and "resumed after epoch" in output
    assert json.loads(state.read_text())["epoch"] == 4
    for expected, got in zip(_final_weights(straight), _final_weights(crashed)):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    history = (crashed / "history.csv").read_text().strip().splitlines()
    assert [line.split(",")[0] for line in history[1:]][-3:] == ["1", "2", "3"]


def test_resume_in_process_is_exact(tiny_openfwi, tmp_path):
    config = load_config(tiny_openfwi, ["training.epochs=2", "training.recompute_batch_norm=false"])
    straight = train(config, tmp_path / "straight", verbose=0).model.get_weights()
    train(load_config(tiny_openfwi, ["training.epochs=1", "training.recompute_batch_norm=false"]),
          tmp_path / "halted", verbose=0)
    saved = tmp_path / "halted" / "config.yaml"
    saved.write_text(saved.read_text().replace("epochs: 1", "epochs: 2"))
    messages = []
    resumed = train(None, tmp_path / "halted", resume=True, verbose=0, progress=messages.append)
    assert resumed.resumed_from_epoch == 1 and any("resuming" in message for message in messages)
    for expected, got in zip(straight, resumed.model.get_weights()):
        np.testing.assert_array_equal(got, expected)


def test_resume_freezes_what_the_run_froze(tiny_openfwi, tmp_path):
    config = load_config(tiny_openfwi, ["training.epochs=1", "training.recompute_batch_norm=false"])
    first = train(config, tmp_path / "run", freeze=["encoder"], verbose=0).model
    encoder = [layer.name for layer in first.layers if layer.name.startswith("convblock") and layer.weights]
    before = {name: [w.copy() for w in first.get_layer(name).get_weights()] for name in encoder}
    saved = tmp_path / "run" / "config.yaml"
    saved.write_text(saved.read_text().replace("epochs: 1", "epochs: 2"))
    resumed = train(None, tmp_path / "run", resume=True, verbose=0).model
    for name in encoder:
        assert not resumed.get_layer(name).trainable
        for old, new in zip(before[name], resumed.get_layer(name).get_weights()):
            np.testing.assert_array_equal(new, old)


def test_resume_needs_an_existing_run(tmp_path):
    done = subprocess.run([sys.executable, "-m", "keras_fwi", "train", "--run-dir", str(tmp_path / "none"),
                           "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "holds no run (no config.yaml); start it without --resume" in done.stderr
