"""OpenFWI's normalisation in NumPy, each transform with its exact inverse; no TensorFlow import.

Seismic amplitudes go through ``sign(x) * log1p(k |x|)`` and are then scaled to [-1, 1] using the
log-transformed ``data_min``/``data_max`` of the dataset; velocities (m/s) are scaled to [-1, 1]
with ``label_min``/``label_max``. The operation order follows OpenFWI (``((x - lo) / (hi - lo) - 0.5)
* 2``) so results agree with it to float32 rounding. ``keras_fwi.data.tf_transforms`` holds the same
functions for tensors; the TF-free ONNX runtime uses these.

>>> x = normalize_seismic(raw, "flatvel-a")          # (..., shots, time, receivers), in [-1, 1]
>>> raw_again = denormalize_seismic(x, "flatvel-a")
>>> velocity_ms = denormalize_velocity(prediction, "flatvel-a")
"""

from __future__ import annotations

import numpy as np

from keras_fwi.data.presets import DatasetPreset, get_preset

__all__ = [
    "denormalize_seismic",
    "denormalize_velocity",
    "exp_transform",
    "log_transform",
    "minmax_denormalize",
    "minmax_normalize",
    "normalize_seismic",
    "normalize_velocity",
    "seismic_bounds",
    "velocity_bounds",
]


def _float_array(values) -> np.ndarray:
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    return array


def log_transform(values, k: float = 1.0):
    """``sign(x) * log1p(k * |x|)``: compresses amplitudes, keeps sign; exact inverse ``exp_transform``."""
    values = _float_array(values)
    return np.sign(values) * np.log1p(np.abs(k * values))


def exp_transform(values, k: float = 1.0):
    """Inverse of ``log_transform``: ``sign(y) * expm1(|y|) / k``."""
    values = _float_array(values)
    return np.sign(values) * np.expm1(np.abs(values)) / k


def minmax_normalize(values, low: float, high: float):
    """Map [low, high] linearly onto [-1, 1] (values outside the range land outside [-1, 1])."""
    values = _float_array(values)
    return ((values - low) / (high - low) - 0.5) * 2


def minmax_denormalize(values, low: float, high: float):
    """Inverse of ``minmax_normalize``: map [-1, 1] back onto [low, high]."""
    values = _float_array(values)
    return (values / 2 + 0.5) * (high - low) + low


def seismic_bounds(dataset: str | DatasetPreset) -> tuple[float, float, float]:
    """(log-transformed data_min, log-transformed data_max, k) of ``dataset``, as Python floats.

    Raises:
        ValueError: unknown preset name, or the preset has no seismic range (``data_min``/``data_max``).
    """
    preset = get_preset(dataset)
    if preset.data_min is None or preset.data_max is None:
        raise ValueError(f"dataset {preset.name!r} has no seismic range to normalise with; set it with "
                         f"preset.replace(data_min=..., data_max=...)")
    k = float(preset.log_k)
    low, high = (float(np.sign(v) * np.log1p(abs(k * v))) for v in (preset.data_min, preset.data_max))
    return low, high, k


def velocity_bounds(dataset: str | DatasetPreset) -> tuple[float, float]:
    """(label_min, label_max) of ``dataset`` in m/s.

    Raises:
        ValueError: unknown preset name, or the preset has no velocity range.
    """
    preset = get_preset(dataset)
    if preset.label_min is None or preset.label_max is None:
        raise ValueError(f"dataset {preset.name!r} has no velocity range to normalise with; set it with "
                         f"preset.replace(label_min=..., label_max=...) in m/s")
    return float(preset.label_min), float(preset.label_max)


def normalize_seismic(seismic, dataset: str | DatasetPreset):
    """Normalise raw seismic amplitudes as OpenFWI does: log transform, then min-max to [-1, 1].

    Args:
        seismic: array of raw amplitudes, any shape (typically (batch, shots, time, receivers)).
        dataset: preset name or ``DatasetPreset`` giving ``data_min``, ``data_max`` and ``log_k``.

    Returns:
        Array of the same shape and floating dtype (float32 for integer input).
    """
    low, high, k = seismic_bounds(dataset)
    return minmax_normalize(log_transform(seismic, k), low, high)


def denormalize_seismic(normalized, dataset: str | DatasetPreset):
    """Exact inverse of ``normalize_seismic``: back to raw amplitudes."""
    low, high, k = seismic_bounds(dataset)
    return exp_transform(minmax_denormalize(normalized, low, high), k)


def normalize_velocity(velocity, dataset: str | DatasetPreset):
    """Scale velocities in m/s from [label_min, label_max] to [-1, 1]."""
    low, high = velocity_bounds(dataset)
    return minmax_normalize(velocity, low, high)


def denormalize_velocity(normalized, dataset: str | DatasetPreset):
    """Map normalised velocities (e.g. model predictions) back to m/s."""
    low, high = velocity_bounds(dataset)
    return minmax_denormalize(normalized, low, high)
