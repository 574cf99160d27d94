"""Import the community's PyTorch checkpoints (OpenFWI InversionNet, FCNVMB) into keras_fwi models.

OpenFWI saves ``{"model": state_dict, "optimizer": ..., "args": argparse.Namespace, ...}`` with keys
``convblock1.layers.0.weight`` …; legacy checkpoints say ``Conv2DwithBN`` (or ``Deconv2DwithBN``,
``Conv2DwithBN_Tanh``) where new ones say ``layers``. FCNVMB saves a bare state_dict (``.pkl``) with
keys ``down1.conv.conv1.0.weight`` …, ``up4.up.weight``, ``final.weight``. Models trained under
``DataParallel`` or ``torch.compile`` prefix keys with ``module.`` / ``_orig_mod.``; both are removed.

Checkpoints are read with ``torch.load(weights_only=True)``: no arbitrary code runs. The one class
OpenFWI pickles beside the weights, ``argparse.Namespace`` (its command-line arguments), is allowed.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import keras
import numpy as np

from keras_fwi._validation import one_of
from keras_fwi.models import build

__all__ = ["assign_torch_weights", "import_torch_checkpoint", "read_torch_state_dict", "torch_key_prefix"]

_LEGACY_BLOCK = re.compile(r"\.(Conv2DwithBN_Tanh|ResizeConv2DwithBN|Deconv2DwithBN|Conv2DwithBN)\.")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
_INVERSIONNET_LAYER = re.compile(r"^((?:convblock|deconv)\d+(?:_\d+)?)_(conv|bn)$")
_FCNVMB_STAGE_LAYER = re.compile(r"^(down\d+|up\d+|center)_(conv[12])_(conv|bn)$")
_FCNVMB_DECONV_LAYER = re.compile(r"^(up\d+)_deconv$")
_SKIPPED_KEYS = ("num_batches_tracked",)  # a counter, not a weight; Keras has no equivalent


def torch_key_prefix(arch: str, layer_name: str) -> str | None:
    """State-dict key prefix of the reference module that holds Keras layer ``layer_name``'s weights.

    Returns None for layers without weights (padding, activations, pooling, ...).
    """
    one_of("arch", arch, ("inversionnet", "fcnvmb"))
    if arch == "inversionnet":
        match = _INVERSIONNET_LAYER.match(layer_name)
        return f"{match[1]}.layers.{0 if match[2] == 'conv' else 1}" if match else None
    if layer_name == "final":
        return "final"
    match = _FCNVMB_DECONV_LAYER.match(layer_name)
    if match:
        return f"{match[1]}.up"
    match = _FCNVMB_STAGE_LAYER.match(layer_name)
    if not match:
        return None
    stage = match[1] if match[1] == "center" else f"{match[1]}.conv"
    return f"{stage}.{match[2]}.{0 if match[3] == 'conv' else 1}"


def read_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a PyTorch checkpoint into ``{key: float32 array}`` with wrapper and legacy names normalised.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImportError: PyTorch is not installed.
        ValueError: the file is not a readable PyTorch checkpoint or holds no state_dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PyTorch checkpoint {path} does not exist")
    try:
        import torch
    except ImportError as error:
        raise ImportError('importing PyTorch checkpoints needs PyTorch: pip install "keras_fwi[torch]"') from error
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for bad files
        raise ValueError(
            f"could not read {path} as a PyTorch checkpoint with weights_only=True ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}). If it is a pickled whole model, re-save "
            f"it as torch.save(model.state_dict(), path)") from error
    state_dict = _unwrap_state_dict(checkpoint, path)
    return {_normalise_key(key): value.detach().cpu().float().numpy() for key, value in state_dict.items()
            if hasattr(value, "detach")}


def _unwrap_state_dict(checkpoint, path: Path) -> dict:
    if isinstance(checkpoint, dict):
        for key in ("model", "state_dict", "model_state_dict"):
            if isinstance(checkpoint.get(key), dict):
                return checkpoint[key]
        if checkpoint and all(hasattr(value, "detach") for value in checkpoint.values()):
            return checkpoint
    raise ValueError(f"{path} holds no state_dict: expected a dict of tensors or a dict with a 'model' "
                     f"entry (OpenFWI), got {type(checkpoint).__name__}")


def _normalise_key(key: str) -> str:
    for prefix in _WRAPPER_PREFIXES:
        while key.startswith(prefix):
            key = key[len(prefix):]
    return _LEGACY_BLOCK.sub(".layers.", key)


def _torch_to_keras(layer: keras.layers.Layer, prefix: str) -> list[tuple[str, callable]]:
    """(state-dict key, converter to the Keras array) for each of ``layer``'s weights, in order."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return [(f"{prefix}.{name}", np.asarray) for name in ("weight", "bias", "running_mean", "running_var")]
    # Conv2D (out, in, kh, kw) and ConvTranspose2d (in, out, kh, kw) both map to Keras' (kh, kw, ·, ·)
    # by the same axis order; neither kernel is flipped (both frameworks cross-correlate).
    return [(f"{prefix}.weight", lambda w: np.transpose(w, (2, 3, 1, 0))), (f"{prefix}.bias", np.asarray)]


def assign_torch_weights(model: keras.Model, state_dict: dict[str, np.ndarray], arch: str) -> None:
    """Copy a reference state_dict into ``model`` (built by ``keras_fwi.models``), checking every key.

    Raises:
        ValueError: listing every missing, unexpected and mis-shaped key, before any weight changes.
    """
    missing, mismatched, assignments, used = [], [], [], set()
    for layer in model.layers:
        prefix = torch_key_prefix(arch, layer.name)
        if prefix is None:
            continue
        pairs = _torch_to_keras(layer, prefix)
        absent = [key for key, _ in pairs if key not in state_dict]
        missing.extend(absent)
        used.update(key for key, _ in pairs if key in state_dict)
        if absent:
            continue
        arrays = [convert(state_dict[key]) for key, convert in pairs]
        for (key, _), array, weight in zip(pairs, arrays, layer.weights):
            if tuple(array.shape) != tuple(weight.shape):
                mismatched.append(f"{key} {tuple(state_dict[key].shape)} (as {tuple(array.shape)} in Keras) "
                                  f"but layer {layer.name} expects {tuple(weight.shape)}")
        assignments.append((layer, arrays))
    unexpected = sorted(key for key in state_dict if key not in used and not key.endswith(_SKIPPED_KEYS))
    if missing or unexpected or mismatched:
        parts = [_summarise(label, items) for label, items in (
            ("missing keys", missing), ("unexpected keys", unexpected), ("mis-shaped keys", mismatched)) if items]
        sizes = "widths" if arch == "inversionnet" else "filters"
        raise ValueError(f"checkpoint does not match {arch} {model.name!r}: " + "; ".join(parts)
                         + f". Check --arch and the builder's sizes (shots, time_samples, receivers, {sizes})")
    for layer, arrays in assignments:
        layer.set_weights(arrays)


_SHOWN_KEYS = 3  # a full mismatch lists hundreds of keys: 15 KB on one line helps nobody


def _summarise(label: str, items: list[str]) -> str:
    """``"label (count): first, second, third, ... and N more"``."""
    shown = ", ".join(items[:_SHOWN_KEYS])
    more = f", ... and {len(items) - _SHOWN_KEYS} more" if len(items) > _SHOWN_KEYS else ""
    return f"{label} ({len(items)}): {shown}{more}"


def infer_builder_kwargs(state_dict: dict[str, np.ndarray], arch: str) -> dict:
    """Shots and channel widths read off the checkpoint's tensor shapes (empty where keys are absent)."""
    def out_channels(key: str) -> int | None:
        return int(state_dict[key].shape[0]) if key in state_dict else None

    if arch == "inversionnet":
        first, width_keys, width_arg = "convblock1.layers.0.weight", (
            "convblock1", "convblock2_1", "convblock4_1", "convblock6_1", "convblock8"), "widths"
        widths = [out_channels(f"{block}.layers.0.weight") for block in width_keys]
    else:
        first, width_arg = "down1.conv.conv1.0.weight", "filters"
        widths = [out_channels(f"{stage}.conv1.0.weight") for stage in
                  ("down1.conv", "down2.conv", "down3.conv", "down4.conv", "center")]
    kwargs = {}
    if first in state_dict:
        kwargs["shots"] = int(state_dict[first].shape[1])
    if all(width is not None for width in widths):
        kwargs[width_arg] = tuple(widths)
    return kwargs


def import_torch_checkpoint(path: str | os.PathLike, arch: str, **builder_kwargs) -> keras.Model:
    """Build ``arch`` and load a reference PyTorch checkpoint into it.

    Shots and channel widths (InversionNet's ``widths``, FCNVMB's ``filters``) are read from the
    checkpoint unless given; other sizes (``time_samples``,
    ``receivers``, ``velocity_shape``, ``data_format``) are the builder's arguments.

    Args:
        path: checkpoint file (OpenFWI ``checkpoint.pth`` / ``model_*.pth``, FCNVMB ``*.pkl``).
        arch: ``"inversionnet"`` or ``"fcnvmb"``.
        **builder_kwargs: arguments of ``keras_fwi.models.inversionnet`` / ``fcnvmb``.

    Returns:
        The ``keras.Model`` with the checkpoint's weights and BatchNorm statistics.

    Raises:
        FileNotFoundError, ImportError, ValueError: see ``read_torch_state_dict`` and
            ``assign_torch_weights``.

    Example:
        >>> model = import_torch_checkpoint("checkpoint.pth", "inversionnet")
    """
    one_of("arch", arch, ("inversionnet", "fcnvmb"))
    state_dict = read_torch_state_dict(path)
    model = build(arch, **{**infer_builder_kwargs(state_dict, arch), **builder_kwargs})
    assign_torch_weights(model, state_dict, arch)
    return model
