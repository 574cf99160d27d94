"""--precision auto: bf16 in graph mode on CPUs with BF16 instructions, float32 (XLA kept) elsewhere."""

import sys

import pytest
import yaml

from keras_fwi.config import load_config
from openfwi_files import write_openfwi_files

from keras_fwi.training.precision import cpu_flags, resolve_precision

XEON_AMX = "flags\t\t: fpu vme avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"
AMD_ZEN3 = "flags\t\t: fpu vme avx2 fma sha_ni\n"


def _tiny_quickstart(tmp_path, samples: int, epochs: int, extra=()):
    """The quickstart with tiny widths on two OpenFWI files of ``samples`` (train, val), precision auto."""
    train_line, val_line = write_openfwi_files(tmp_path, 2, samples)
    (tmp_path / "train.txt").write_text(train_line + "\n")
    (tmp_path / "val.txt").write_text(val_line + "\n")
    return load_config("quickstart", ["model.options.widths=[2,2,2,2,2]", f"data.train={tmp_path / 'train.txt'}",
                                      f"data.val={tmp_path / 'val.txt'}", f"training.epochs={epochs}",
                                      "training.batch_size=2", "training.precision=auto",
                                      "training.figure_samples=0", *extra])


@pytest.mark.parametrize("cpuinfo, expected", [(XEON_AMX, ("mixed_bfloat16", False)),
                                               ("flags : avx512f avx512_bf16\n", ("mixed_bfloat16", False)),
                                               (AMD_ZEN3, ("float32", True)), ("", ("float32", True))])
def test_auto_follows_faked_cpu_flags(cpuinfo, expected, tmp_path, monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    (tmp_path / "cpuinfo").write_text("processor\t: 0\n" + cpuinfo)
    flags = cpu_flags(tmp_path / "cpuinfo")
    precision, jit, reason = resolve_precision("auto", True, flags=flags, gpus=0)
    assert (precision, jit) == expected and "auto" in reason


def test_explicit_precision_and_gpus_and_other_systems(monkeypatch):
    assert resolve_precision("mixed_float16", True, flags={"amx_bf16"}, gpus=0)[:2] == ("mixed_float16", True)
    assert resolve_precision("auto", True, flags={"amx_bf16"}, gpus=1)[:2] == ("float32", True)
    monkeypatch.setattr("sys.platform", "darwin")
    assert cpu_flags() == set()


def test_this_machine_is_detected_without_faking():
    """The development machine is an AMD CPU without BF16: auto must choose float32 here."""
    flags = cpu_flags()
    if not sys.platform.startswith("linux") or "AuthenticAMD" not in open("/proc/cpuinfo").read() \
            or flags & {"avx512_bf16", "amx_bf16"}:
        pytest.skip("not an AMD CPU without BF16")
    assert resolve_precision("auto", True, gpus=0)[:2] == ("float32", True)


def test_a_run_with_auto_keeps_auto_in_its_config(tmp_path):
    from keras_fwi.training.trainer import train

    config = _tiny_quickstart(tmp_path, samples=2, epochs=1, extra=["training.jit_compile=false"])
    messages = []
    train(config, tmp_path / "run", verbose=0, progress=messages.append)
    assert any(message.startswith("precision ") and "auto" in message for message in messages)
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["training"]["precision"] == "auto"


def test_what_auto_picks_on_a_bf16_cpu_trains_and_saves_float32_outputs(tmp_path, monkeypatch):
    """The path ``auto`` takes on Intel Xeons (mixed_bfloat16 in graph mode), run here with faked flags."""
    import keras
    import numpy as np

    from keras_fwi.training import trainer

    monkeypatch.setattr("keras_fwi.training.precision.cpu_flags", lambda: {"amx_bf16"})
    monkeypatch.setattr("keras_fwi.training.trainer.resolve_precision",
                        lambda precision, jit, **kw: resolve_precision(precision, jit, gpus=0, **kw))
    config = _tiny_quickstart(tmp_path, samples=4, epochs=2)
    messages = []
    result = trainer.train(config, tmp_path / "run", verbose=0, progress=messages.append)
    assert any("mixed_bfloat16 in graph mode" in message for message in messages)
    assert keras.config.dtype_policy().name == "float32"  # restored after the run
    assert np.isfinite(result.metrics["velocity_mae"]) and result.metrics["velocity_mae"] > 0
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in result.model.layers)
    loaded = keras.saving.load_model(tmp_path / "run" / "model.keras")
    output = loaded(np.zeros((1, *loaded.input_shape[1:]), "float32"))
    assert output.dtype == "float32" and np.isfinite(keras.ops.convert_to_numpy(output)).all()
