"""The README's user-code example runs as written, on OpenFWI-format files made here."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    match = re.search(r"<!-- user-code example[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its tested user-code example"
    return match.group(1)


def test_readme_model_fit_example(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for number in (1, 2):
        np.save(data / f"data{number}.npy", rng.uniform(-20, 40, (16, 5, 1000, 70)).astype("float32"))
        velocity = np.sort(rng.uniform(1500, 4500, (16, 70)), axis=1)[:, None, :, None].repeat(70, axis=3)
        np.save(data / f"model{number}.npy", velocity.astype("float32"))
    (data / "train.txt").write_text("data1.npy\tmodel1.npy\n")
    (data / "val.txt").write_text("data2.npy\tmodel2.npy\n")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    history = namespace["model"].history.history
    assert {"loss", "mae", "ssim", "velocity_mae", "val_loss"} <= set(history)
    assert np.isfinite(history["loss"][0]) and (tmp_path / "inversionnet.keras").is_file()
