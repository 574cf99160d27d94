"""tf.distribute on CPU: MirroredStrategy over two logical devices follows the one-device loss trajectory."""

import csv
import json
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


UNEVEN_STEP = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from keras_fwi.training import loop
    x, y = (np.array(json.loads(arg), np.float32) for arg in sys.argv[1:3])
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(1, kernel_initializer="ones")])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(len(x))
    loop.run_epochs(model, strategy, loop.EpochData(strategy.experimental_distribute_dataset(dataset), 1),
                    initial_epoch=0, epochs=1, callbacks=[], verbose=0, element_spec=dataset.element_spec)
    print(json.dumps([weight.tolist() for weight in model.get_weights()]))
""")


def test_a_batch_split_unevenly_over_replicas_steps_as_one_device():
    """Three samples over two replicas (2 + 1): the step follows the gradient of the mean over all
    three, not the mean of the two replicas' means (which weighs the lone sample double)."""
    x = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 1.0]])
    y = np.array([[1.0], [2.0], [-4.0]])
    done = subprocess.run([sys.executable, "-c", UNEVEN_STEP, json.dumps(x.tolist()), json.dumps(y.tolist())],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    kernel, bias = (np.array(weight) for weight in json.loads(done.stdout.strip().splitlines()[-1]))
    residual = x @ np.ones((2, 1)) - y  # one SGD step on mean((x·w + b - y)²) from w = 1, b = 0
    np.testing.assert_allclose(kernel, 1 - 0.1 * 2 * x.T @ residual / 3, rtol=1e-5)
    np.testing.assert_allclose(bias, -0.1 * 2 * residual.sum(axis=0) / 3, rtol=1e-5)


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
