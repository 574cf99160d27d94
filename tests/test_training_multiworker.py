"""Two `keras_fwi train` workers on localhost (TF_CONFIG): one process's trajectory, chief-only writes,
and a SIGKILLed worker that ends the run with a message naming --resume, which then continues it."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from openfwi_files import write_openfwi_files

EPOCHS = 3


def _experiment(folder, samples_per_file, epsilon=1e-8):
    """Two training files (OpenFWI layout) and one validation file; batch 4 per replica."""
    lines = write_openfwi_files(folder, 3, samples_per_file)
    (folder / "train.txt").write_text("\n".join(lines[:2]) + "\n")
    (folder / "val.txt").write_text(lines[2] + "\n")
    config = {"name": "mw", "model": {"options": {"widths": [4, 4, 8, 8, 16]}},
              "data": {"train": str(folder / "train.txt"), "val": str(folder / "val.txt")},
              "optimizer": {"learning_rate": 1e-3, "scale_by_replicas": False, "epsilon": epsilon},
              "training": {"epochs": EPOCHS, "batch_size": 4, "jit_compile": False, "figure_samples": 0,
                           "recompute_batch_norm": False, "sync_batch_norm": True, "precision": "float32"}}
    (folder / "mw.yaml").write_text(yaml.safe_dump(config))
    return folder / "mw.yaml"


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """2 × 4 training samples: the whole training set is one global batch (2 workers × 4, or 1 process
    × 8), so even whole-file shards compute one process's loss and gradient up to the order of
    floating-point sums (BatchNorm synchronised)."""
    return _experiment(tmp_path_factory.mktemp("multiworker"), 4)


@pytest.fixture(scope="module")
def shuffled_experiment(tmp_path_factory):
    """2 × 7 training samples, shuffled across the files into global batches of 8 then 6 (split 4 + 4,
    3 + 3 over two workers): only sample sharding gives the workers one process's batches.

    Adam's epsilon is 1e-3: with the default, Adam scales near-zero gradients (rounding noise) to
    full-size steps, and over six steps even one process with and without XLA drifts apart by 2e-4
    in loss (measured); a larger epsilon keeps each step proportional to its gradient, so what the
    comparison sees is the batches, not the rounding."""
    return _experiment(tmp_path_factory.mktemp("multiworker_shuffled"), 7, epsilon=1e-3)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _workers(config, run_dir, tmp_path, *extra):
    """Start two workers of one cluster; each with its own TMPDIR (to see what it leaves behind)."""
    hosts = [f"localhost:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        scratch = tmp_path / f"tmp{index}"
        scratch.mkdir(exist_ok=True)
        env = {**os.environ, "TMPDIR": str(scratch), "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}})}
        command = [sys.executable, "-m", "keras_fwi", "train", "--config", str(config), "--run-dir", str(run_dir),
                   "--strategy", "multi-worker", "--quiet", *extra]
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True))
    return processes


def _history(run_dir, key):
    with open(run_dir / "history.csv") as handle:
        return [float(row[key]) for row in csv.DictReader(handle)]


def _one_process(config, run_dir):
    single = subprocess.run([sys.executable, "-m", "keras_fwi", "train", "--config", str(config), "--run-dir",
                             str(run_dir), "--batch-size", "8", "--quiet"], check=False, capture_output=True,
                            text=True, timeout=900)
    assert single.returncode == 0, single.stdout[-2000:] + single.stderr[-3000:]


def _wait_for_both(processes, timeout=900):
    """Each worker's output and the time it exited."""
    ended, deadline = {}, time.monotonic() + timeout
    while len(ended) < 2 and time.monotonic() < deadline:  # output is small (--quiet): the pipes do not fill
        ended.update({index: time.time() for index, process in enumerate(processes)
                      if index not in ended and process.poll() is not None})
        time.sleep(0.05)
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    assert all(process_output.count("Traceback") == 0 for process_output in outputs), outputs[1][-3000:]
    assert [process.returncode for process in processes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    return outputs, ended


def _assert_same_trajectory(one, run):
    for key, rtol in (("loss", 1e-3), ("val_loss", 1e-3), ("val_mae", 1e-3), ("val_rmse", 1e-3), ("val_ssim", 1e-2)):
        expected, got = _history(one, key), _history(run, key)
        assert len(got) == EPOCHS  # the chief's rows only (a second writer would add rows)
        # SSIM (small constants, nearly flat maps) magnifies the weights' rounding differences about 100×.
        np.testing.assert_allclose(got, expected, rtol=rtol, err_msg=key)
    assert _history(run, "loss")[-1] < _history(run, "loss")[0]


@pytest.mark.slow
def test_two_workers_sharding_samples_follow_one_process_batch_for_batch(shuffled_experiment, tmp_path):
    one, run = tmp_path / "one", tmp_path / "two"
    _one_process(shuffled_experiment, one)
    _wait_for_both(_workers(shuffled_experiment, run, tmp_path))  # training.shard samples, the default
    _assert_same_trajectory(one, run)
    # Whole files per worker mix the batches differently: the trajectory leaves one process's.
    files = tmp_path / "files"
    _wait_for_both(_workers(shuffled_experiment, files, tmp_path, "--shard", "files"))
    assert not np.allclose(_history(files, "loss"), _history(one, "loss"), rtol=1e-3)


@pytest.mark.slow
def test_two_workers_sharding_files_follow_one_process_and_only_the_chief_writes(experiment, tmp_path):
    one, run = tmp_path / "one", tmp_path / "two"
    _one_process(experiment, one)
    outputs, ended = _wait_for_both(_workers(experiment, run, tmp_path, "--shard", "files"))
    assert "run directory:" in outputs[0] and "the chief (worker 0) writes the run directory" in outputs[1]
    _assert_same_trajectory(one, run)
    written = sorted(path.name for path in run.iterdir())
    assert written == sorted(path.name for path in one.iterdir())  # the same run directory as one process
    assert not any((tmp_path / "tmp1").iterdir())  # the other worker's temporary saves were removed
    # The other worker waits for the chief to save and evaluate: had it left at the end of training, its
    # heartbeats would stop and the coordination service would abort the chief mid-save.
    assert ended[1] >= (run / "metrics.json").stat().st_mtime


@pytest.mark.slow
def test_a_killed_worker_ends_the_chief_with_a_resume_hint_and_resume_finishes(experiment, tmp_path):
    run = tmp_path / "run"
    chief, other = _workers(experiment, run, tmp_path, "--epochs", "6")
    state = run / "backup" / "state.json"
    deadline = time.monotonic() + 900
    while not (state.is_file() and json.loads(state.read_text())["epoch"] >= 1):
        assert chief.poll() is None and other.poll() is None, chief.stdout.read()[-3000:]
        assert time.monotonic() < deadline, "the first epoch never finished"
        time.sleep(0.1)
    os.kill(other.pid, signal.SIGKILL)
    killed = time.monotonic()
    output, _ = chief.communicate(timeout=300)  # the heartbeat timeout (10 s) plus the exit
    assert chief.returncode != 0
    assert time.monotonic() - killed < 300
    lines = [line for line in output.splitlines() if "--resume" in line]
    assert lines and lines[-1].startswith("keras_fwi train: error: lost another worker"), output[-3000:]
    assert "Traceback" not in output
    other.wait(timeout=60)
    done = json.loads(state.read_text())["epoch"]
    assert 1 <= done < 6

    resumed = _workers(experiment, run, tmp_path, "--resume", "--epochs", "6")
    outputs = [process.communicate(timeout=900)[0] for process in resumed]
    assert [process.returncode for process in resumed] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert f"resuming {run} after epoch {done} of 6" in outputs[0]
    assert json.loads(state.read_text())["epoch"] == 6
    assert [int(row) for row in np.loadtxt(run / "history.csv", delimiter=",", skiprows=1, usecols=0)][-1] == 5
