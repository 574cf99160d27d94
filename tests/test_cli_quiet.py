"""A quiet, honest command line: no TensorFlow start-up noise, one device line, no ANSI codes in logs."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_fwi import _system
from keras_fwi.training.callbacks import RunProgressBar


def test_tensorflow_command_prints_no_start_up_noise():
    """`models` starts TensorFlow (and CUDA, where "failed call to cuInit" is printed on a CPU machine)."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "keras_fwi", "models"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0].startswith("device: ") and lines[0].endswith(", precision float32")
    assert sum(line.startswith("device: ") for line in lines) == 1
    assert "inversionnet" in done.stdout


def test_tensorflow_python_warnings_are_hidden_unless_verbose():
    """TensorFlow's own Python warnings (e.g. tf.function retracing, which refine's per-stage graphs
    trigger) are not the command line's output; errors still are, and --verbose shows everything."""
    code = ("import sys; from keras_fwi._system import start_tensorflow; start_tensorflow(sys.argv[1] == 'v'); "
            "import tensorflow as tf; tf.get_logger().warning('retracing'); tf.get_logger().error('broken')")
    for mode, shown in (("q", ["broken"]), ("v", ["retracing", "broken"])):
        done = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, timeout=300,
                              check=False)
        assert done.returncode == 0, done.stderr
        assert [word for word in ("retracing", "broken") if word in done.stderr] == shown


def test_quiet_stderr_replays_what_a_failure_printed(capfd):
    with pytest.raises(RuntimeError), _system.quiet_stderr():
        os.write(2, b"the reason it failed\n")
        raise RuntimeError("failed")
    assert "the reason it failed" in capfd.readouterr().err
    with _system.quiet_stderr():
        os.write(2, b"start-up chatter\n")
    assert capfd.readouterr().err == ""


def test_progress_bar_is_plain_text_when_stdout_is_not_a_terminal(capsys):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((8, 3), "float32")
    model.fit(x, x[:, :1], epochs=2, batch_size=4, verbose=1, callbacks=[RunProgressBar(total_epochs=2)])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\b" not in out and "\r" not in out
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4  # one line per epoch
    assert lines[1].startswith("2/2 - ") and "loss: " in lines[1]


@pytest.mark.parametrize("cores", [6, None])
def test_cpu_count_without_sched_getaffinity(monkeypatch, cores):
    """macOS and Windows have neither os.sched_getaffinity nor (before Python 3.13) os.process_cpu_count."""
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert _system.cpu_count() == (cores or 1)


def test_cpu_count_honours_affinity_on_linux(monkeypatch):
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert _system.cpu_count() == 3


def test_generation_progress_is_plain_text_when_stdout_is_not_a_terminal(tmp_path, capsys):
    from keras_fwi.physics import Survey
    from keras_fwi.physics.generate import generate_dataset

    tiny = Survey(nz=12, nx=12, dx=10.0, nt=40, dt=1e-3, frequency=15.0, source_z=1, source_x=[0, 11],
                  receiver_z=1, receiver_x=list(range(12)), boundary=5)
    generate_dataset(tmp_path / "data", "flatvel-a", 4, per_file=2, survey=tiny, progress=True)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\b" not in out and "\r" not in out
    assert "4/4" in out.splitlines()[-1]
