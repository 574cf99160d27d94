"""Imported reference weights give the reference's outputs, in inference and in training mode."""

import argparse
import re
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from keras_fwi.models import build, torch_reference  # noqa: E402
from keras_fwi.models.torch_import import import_torch_checkpoint, read_torch_state_dict  # noqa: E402

TOLERANCE = 2e-3
CASES = {
    "inversionnet": (lambda: torch_reference.InversionNet(widths=(8, 8, 16, 16, 32)), (3, 5, 1000, 70), {}),
    "fcnvmb": (lambda: torch_reference.FCNVMB(shots=6, velocity_shape=(70, 70), filters=(4, 8, 16, 32, 64)),
               (2, 6, 96, 80), {"time_samples": 96, "receivers": 80, "velocity_shape": (70, 70)}),
}


def trained_like(module):
    """Random, non-trivial BatchNorm statistics and affine parameters, as after training."""
    generator = torch.Generator().manual_seed(0)
    for layer in module.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.running_mean.copy_(torch.rand(layer.num_features, generator=generator) - 0.5)
            layer.running_var.copy_(torch.rand(layer.num_features, generator=generator) + 0.5)
            layer.weight.data.copy_(torch.rand(layer.num_features, generator=generator) + 0.5)
            layer.bias.data.copy_(torch.rand(layer.num_features, generator=generator) - 0.5)
            layer.num_batches_tracked.fill_(1000)
    return module


def assert_same_outputs(reference, model, shape):
    seismic = np.random.default_rng(0).standard_normal(shape).astype("float32")
    for training in (False, True):
        reference.train(training)
        with torch.no_grad():
            expected = reference(torch.from_numpy(seismic)).numpy()
        got = model(seismic, training=training).numpy()
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= TOLERANCE, f"training={training}"


@pytest.mark.parametrize("arch", sorted(CASES))
def test_import_reproduces_reference(arch, tmp_path):
    make, shape, sizes = CASES[arch]
    torch.manual_seed(0)
    reference = trained_like(make())
    path = tmp_path / "checkpoint.pth"
    # OpenFWI's layout: weights under "model", beside optimizer state and the argparse arguments.
    torch.save({"model": reference.state_dict(), "epoch": 3, "args": argparse.Namespace(lr=1e-4)}, path)
    assert_same_outputs(reference, import_torch_checkpoint(path, arch, **sizes), shape)


def test_bare_state_dict_with_dataparallel_prefix(tmp_path):
    make, shape, sizes = CASES["fcnvmb"]
    reference = trained_like(make())
    path = tmp_path / "fcnvmb.pkl"
    torch.save(torch.nn.DataParallel(reference).state_dict(), path)  # keys "module.down1…", as FCNVMB saves
    assert_same_outputs(reference, import_torch_checkpoint(path, "fcnvmb", **sizes), shape)


def test_legacy_openfwi_keys(tmp_path):
    make, shape, _ = CASES["inversionnet"]
    reference = trained_like(make())
    legacy = {}
    for key, value in reference.state_dict().items():
        block = "Conv2DwithBN_Tanh" if key.startswith("deconv6") else (
            "Deconv2DwithBN" if key.split(".")[0] in {f"deconv{i}_1" for i in range(1, 6)} else "Conv2DwithBN")
        legacy[key.replace(".layers.", f".{block}.")] = value
    path = tmp_path / "legacy.pth"
    torch.save({"model": legacy}, path)
    assert set(read_torch_state_dict(path)) == set(reference.state_dict())
    assert_same_outputs(reference, import_torch_checkpoint(path, "inversionnet"), shape)


def test_bad_keys_are_listed_together(tmp_path):
    state = torch_reference.InversionNet(widths=(8, 8, 16, 16, 32)).state_dict()
    del state["convblock3_1.layers.1.running_var"]
    state["convblock2_2.layers.0.weight"] = torch.zeros(8, 8, 5, 1)
    state["head.weight"] = torch.zeros(1)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as info:
        import_torch_checkpoint(path, "inversionnet")
    message = str(info.value)
    assert "missing keys (1): convblock3_1.layers.1.running_var" in message
    assert "unexpected keys (1): head.weight" in message
    assert "mis-shaped keys (1): convblock2_2.layers.0.weight (8, 8, 5, 1)" in message


def test_wrong_arch_is_refused(tmp_path):
    path = tmp_path / "inversionnet.pth"
    torch.save({"model": torch_reference.InversionNet(widths=(8, 8, 16, 16, 32)).state_dict()}, path)
    with pytest.raises(ValueError, match="checkpoint does not match fcnvmb .*missing keys") as info:
        import_torch_checkpoint(path, "fcnvmb")
    # Every FCNVMB key is missing and every InversionNet key unexpected: counts and the first keys only.
    message = str(info.value)
    expected_missing = sum(len(layer.weights) for layer in build("fcnvmb", filters=(2, 4, 8, 16, 32)).layers)
    assert f"missing keys ({expected_missing}): down1.conv.conv1.0.weight, " in message
    assert re.search(r"unexpected keys \(\d+\): convblock1\.layers\.0\.bias, .*, \.\.\. and \d+ more", message)
    assert len(message) < 600 and message.endswith("(shots, time_samples, receivers, filters)")


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        import_torch_checkpoint(tmp_path / "absent.pth", "inversionnet")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not read .*corrupt.pth as a PyTorch checkpoint"):
        import_torch_checkpoint(corrupt, "inversionnet")
    whole_module = tmp_path / "module.pth"
    torch.save(torch.nn.Linear(2, 2), whole_module)  # a pickled module: refused by weights_only=True
    with pytest.raises(ValueError, match="re-save it as torch.save\\(model.state_dict\\(\\), path\\)"):
        import_torch_checkpoint(whole_module, "inversionnet")


def test_cli_import_torch(tmp_path):
    import keras

    reference = trained_like(CASES["inversionnet"][0]())
    checkpoint = tmp_path / "checkpoint.pth"
    torch.save({"model": reference.state_dict()}, checkpoint)
    out = tmp_path / "model.keras"
    command = [sys.executable, "-m", "keras_fwi", "import-torch", str(checkpoint), "--arch", "inversionnet",
               "--out", str(out), "--dataset", "flatvel_a"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout.endswith(", dataset flatvel-a\n")
    assert_same_outputs(reference, keras.saving.load_model(out, safe_mode=True), CASES["inversionnet"][1])
    from keras_fwi.artefacts import read_preset

    assert read_preset(out).name == "flatvel-a"

    before = out.read_bytes()
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "already exists; pass --overwrite" in again.stderr
    assert out.read_bytes() == before


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["inversionnet", "fcnvmb"])
def test_full_size_reference_equivalence(arch, tmp_path):
    reference = trained_like(torch_reference.InversionNet() if arch == "inversionnet" else torch_reference.FCNVMB())
    path = tmp_path / "checkpoint.pth"
    torch.save({"model": reference.state_dict()}, path)
    shape = (2, 5, 1000, 70) if arch == "inversionnet" else (2, 29, 400, 301)
    assert_same_outputs(reference, import_torch_checkpoint(path, arch), shape)
