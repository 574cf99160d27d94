"""The `keras_fwi` program: version, help, model listing, both entry points."""

import shutil
import subprocess
import sys

import pytest

import keras_fwi
from keras_fwi.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"keras_fwi {keras_fwi.__version__}"


def test_no_command_prints_help_and_succeeds(capsys):
    assert main([]) == 0
    assert "models" in capsys.readouterr().out


def test_models_lists_parameter_counts(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "inversionnet" in out and "24,409,123" in out
    assert "fcnvmb" in out and "31,058,497" in out


def test_console_script_and_module_agree():
    script = shutil.which("keras_fwi")
    assert script, "the keras_fwi console script is not installed: pip install -e ."
    for command in ([script, "--version"], [sys.executable, "-m", "keras_fwi", "--version"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.strip() == f"keras_fwi {keras_fwi.__version__}"


def test_library_errors_are_one_line(tmp_path, capsys):
    code = main(["import-torch", str(tmp_path / "absent.pth"), "--arch", "fcnvmb", "--out", str(tmp_path / "m.h5")])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"keras_fwi import-torch: error: --out must end in .keras (Keras' native format), got {tmp_path / 'm.h5'}")
