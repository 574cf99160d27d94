"""tf.distribute on CPU: MirroredStrategy over two logical devices follows the one-device loss trajectory."""

import csv
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml

from openfwi_files import write_openfwi_files

SCRIPT = textwrap.dedent("""
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from keras_fwi.config import load_config
    from keras_fwi.training.trainer import train
    config_path, run_dir, *overrides = sys.argv[1:]
    train(load_config(config_path, overrides), run_dir, verbose=0)
""")


def _losses(run_dir):
    with open(run_dir / "history.csv") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


@pytest.mark.slow
def test_mirrored_matches_one_device(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    train_line, val_line = write_openfwi_files(folder, files=2, per_file=8)
    (folder / "train.txt").write_text(train_line + "\n")
    (folder / "val.txt").write_text(val_line + "\n")
    config = {"name": "mirrored", "model": {"options": {"widths": [4, 4, 8, 8, 16]}},
              "data": {"train": str(folder / "train.txt"), "val": str(folder / "val.txt")},
              "optimizer": {"learning_rate": 1e-3, "scale_by_replicas": False},
              "training": {"precision": "float32",
                           "epochs": 3, "jit_compile": False, "recompute_batch_norm": False, "figure_samples": 0,
                           "sync_batch_norm": True}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    runs = {}
    for name, overrides in (("one", ["training.batch_size=8"]),
                            ("mirrored", ["training.batch_size=4", "training.strategy=mirrored"])):
        runs[name] = tmp_path / name
        done = subprocess.run([sys.executable, "-c", SCRIPT, str(path), str(runs[name]), *overrides],
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
    one, mirrored = _losses(runs["one"]), _losses(runs["mirrored"])
    assert len(one) == len(mirrored) == 3
    # Same global batch, data order and (synchronised) BatchNorm statistics: only the order of the
    # floating-point reductions differs.
    np.testing.assert_allclose(mirrored, one, rtol=1e-3)
    assert mirrored[-1] < mirrored[0]
