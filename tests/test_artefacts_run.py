"""End to end: what `keras_fwi train` writes is usable by someone who only has the files."""

import subprocess
import sys

import numpy as np
import pytest
import yaml

from keras_fwi import artefacts
from keras_fwi.cli import main
from keras_fwi.data import get_preset
from openfwi_files import write_openfwi_files


@pytest.mark.slow
def test_a_trained_run_loads_exports_and_predicts_without_dataset(tmp_path, capsys):
    lines = write_openfwi_files(tmp_path, 2, 8)
    (tmp_path / "train.txt").write_text(lines[0] + "\n")
    (tmp_path / "val.txt").write_text(lines[1] + "\n")
    config = {"name": "tiny", "model": {"arch": "inversionnet", "options": {"widths": [4, 4, 8, 8, 16]}},
              "data": {"dataset": "curvevel-a", "train": str(tmp_path / "train.txt"), "val": str(tmp_path / "val.txt")},
              "training": {"precision": "float32",
                           "epochs": 1, "batch_size": 4, "jit_compile": False, "figure_samples": 0}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    assert main(["train", "--config", str(tmp_path / "tiny.yaml"), "--run-dir", str(run), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("device: CPU")

    for path in (run, run / "model.keras", run / "checkpoints" / "best.keras", run / "checkpoints" / "last.keras"):
        assert artefacts.read_preset(path) == get_preset("curvevel-a"), path
    # A fresh interpreter, as a Keras user would: default arguments, safe_mode on, compiled.
    code = (f"import keras, keras_fwi\nmodel = keras.saving.load_model({str(run / 'model.keras')!r})\n"
            "print(type(model.loss).__name__, type(model.optimizer._learning_rate).__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "L1L2Loss WarmupMultiStep"

    assert main(["export", str(run), "--out", str(tmp_path / "m.onnx"), "--raw-io"]) == 0
    assert "input raw" in capsys.readouterr().out
    assert main(["predict", "--model", str(tmp_path / "m.onnx"), str(tmp_path / "data1.npy"), "--out",
                 str(tmp_path / "pred"), "--quiet", "--provider", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "input: raw amplitudes (normalised inside the model); output: m/s; dataset curvevel-a" in out
    velocity = np.load(tmp_path / "pred" / "data1_velocity.npy")
    assert velocity.shape == (8, 1, 70, 70) and 1000 < velocity.mean() < 5000
