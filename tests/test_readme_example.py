"""The README's user-code example runs as written, on OpenFWI-format files made here."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from openfwi_files import write_openfwi_files

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    match = re.search(r"<!-- user-code example[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its tested user-code example"
    return match.group(1)


def test_readme_model_fit_example(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    train_line, val_line = write_openfwi_files(data, files=2, per_file=16)
    (data / "train.txt").write_text(train_line + "\n")
    (data / "val.txt").write_text(val_line + "\n")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    history = namespace["model"].history.history
    assert {"loss", "mae", "ssim", "velocity_mae", "val_loss"} <= set(history)
    assert np.isfinite(history["loss"][0]) and (tmp_path / "inversionnet.keras").is_file()
    # A Keras user with only the file: `import keras_fwi` is all load_model needs (default arguments).
    code = ("import keras, keras_fwi\n"
            f"model = keras.saving.load_model({str(tmp_path / 'inversionnet.keras')!r})\n"
            "print(type(model.loss).__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "L1L2Loss", done.stderr[-2000:]
