"""`import keras_fwi` is all `keras.saving.load_model` needs, in a fresh interpreter, in either import order."""

import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

import keras_fwi
from keras_fwi import _registration
from keras_fwi.training.losses import L1L2Loss
from keras_fwi.training.metrics import openfwi_metrics
from keras_fwi.training.schedules import WarmupMultiStep

PACKAGE = Path(keras_fwi.__file__).resolve().parent


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def compiled_model_file(tmp_path_factory):
    """A tiny InversionNet compiled as `keras_fwi train` compiles: AdamW on WarmupMultiStep, L1L2Loss, metrics."""
    model = keras_fwi.models.inversionnet(shots=2, time_samples=72, receivers=8, velocity_shape=(8, 8),
                                          widths=(2, 2, 2, 2, 4))
    schedule = WarmupMultiStep(1e-3, milestones=[10, 20], gamma=0.5, warmup_steps=3)
    model.compile(optimizer=keras.optimizers.AdamW(schedule), loss=L1L2Loss(l1=0.7, l2=0.3),
                  metrics=openfwi_metrics(1500, 4500), jit_compile=False)
    model.optimizer.build(model.trainable_variables)  # saved with its state, as a trained model is
    path = tmp_path_factory.mktemp("artefact") / "model.keras"
    model.save(path)
    return path


_CHECK_LOADED = """
model = keras.saving.load_model(PATH)
print(type(model.loss).__name__, model.loss.l1, model.loss.l2)
print(type(model.optimizer._learning_rate).__name__, model.optimizer._learning_rate.warmup_steps)
print(sorted(m["registered_name"] for m in model.get_compile_config()["metrics"]))
"""
_EXPECTED = ["L1L2Loss 0.7 0.3", "WarmupMultiStep 3",
             str(sorted(f"keras_fwi>{name}" for name in ("MAE", "PSNR", "RMSE", "SSIM", "VelocityMAE", "VelocityRMSE")))]


def test_keras_then_keras_fwi_loads_with_default_arguments(compiled_model_file):
    """Fresh interpreter: without keras_fwi the file does not load (the control); after it, it does."""
    code = ("import keras\n"
            f"PATH = {str(compiled_model_file)!r}\n"
            "try:\n    keras.saving.load_model(PATH)\nexcept TypeError as error:\n"
            "    print('refused', 'keras_fwi>' in str(error))\n"
            "import keras_fwi\n" + _CHECK_LOADED)
    done = _run(code)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == ["refused True", *_EXPECTED]


def test_keras_fwi_then_keras_loads_and_keras_fwi_alone_imports_no_keras(compiled_model_file):
    code = ("import sys, keras_fwi\n"
            "print('keras' in sys.modules, 'tensorflow' in sys.modules)\n"
            f"import keras\nPATH = {str(compiled_model_file)!r}\n" + _CHECK_LOADED)
    done = _run(code)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == ["False False", *_EXPECTED]


def test_every_serialisable_module_is_registered():
    """A module that registers a Keras object but is missing from the list would load nowhere."""
    defining = set()
    for path in PACKAGE.rglob("*.py"):
        if "register_keras_serializable" in path.read_text(encoding="utf-8") and path.name != "_registration.py":
            relative = path.relative_to(PACKAGE.parent).with_suffix("")
            defining.add(".".join(relative.parts))
    assert defining and defining == set(_registration.SERIALIZABLE_MODULES)


def test_registered_names_are_those_written_in_the_file(compiled_model_file):
    import zipfile

    config = zipfile.ZipFile(compiled_model_file).read("config.json").decode()
    written = set(re.findall(r'"registered_name": "(keras_fwi>\w+)"', config))
    assert {"keras_fwi>L1L2Loss", "keras_fwi>WarmupMultiStep", "keras_fwi>VelocityMAE"} <= written
    assert written <= set(keras.saving.get_custom_objects())
