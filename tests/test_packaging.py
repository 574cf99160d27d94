"""The wheel ships keras_fwi.export and keras_fwi.configs from the top-level export/ and configs/
folders, and never a top-level `export` or `configs`."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_keras_fwi_export_is_importable_from_the_install():
    import keras_fwi.export

    assert Path(keras_fwi.export.__file__).resolve() == REPO / "export" / "__init__.py"


def test_wheel_maps_export_under_keras_fwi(tmp_path):
    pytest.importorskip("setuptools")
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", "tests", "benchmarks", "runs"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    wheel, = (tmp_path / "dist").glob("keras_fwi-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "keras_fwi/export/__init__.py" in names
    assert not [name for name in names if name.startswith("export/")], "a top-level `export` must never ship"
    assert not [name for name in names if name.startswith("configs/")], "a top-level `configs` must never ship"
    assert "keras_fwi/configs/datasets/openfwi.yaml" in names
    assert "keras_fwi/configs/experiments/quickstart.yaml" in names
    assert "keras_fwi/cli/__init__.py" in names and "keras_fwi/models/inversionnet.py" in names
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "keras_fwi = keras_fwi.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    # Installed from the wheel alone (no repo on the path), keras_fwi.export resolves inside the wheel.
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = "import keras_fwi.export, importlib.util; print(keras_fwi.export.__file__); " \
            "print(importlib.util.find_spec('export')); from keras_fwi.config import load_config; " \
            "print(load_config('quickstart').name)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    exported_from, top_level_export, experiment = done.stdout.split("\n")[:3]
    assert Path(exported_from).resolve() == (site / "keras_fwi" / "export" / "__init__.py").resolve()
    assert top_level_export == "None"
    assert experiment == "quickstart"  # the presets load from the wheel's keras_fwi.configs
