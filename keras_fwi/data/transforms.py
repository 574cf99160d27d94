"""OpenFWI's normalisation in NumPy, each transform with its exact inverse; no TensorFlow import.

The transforms are defined once, as step lists, in ``keras_fwi.data.normalization`` (with the
constants from the dataset preset); this module holds the NumPy primitives (``NUMPY_OPS``) and the
public functions that apply those steps. Operation order follows OpenFWI (``((x - lo) / (hi - lo) -
0.5) * 2``) so results agree with it to float32 rounding. ``keras_fwi.data.tf_transforms`` holds the
same functions for tensors; the TF-free ONNX runtime uses these.

>>> x = normalize_seismic(raw, "flatvel-a")          # (..., shots, time, receivers), in [-1, 1]
>>> raw_again = denormalize_seismic(x, "flatvel-a")
>>> velocity_ms = denormalize_velocity(prediction, "flatvel-a")
"""

from __future__ import annotations

import numpy as np

from keras_fwi.data.normalization import Normalization, apply_steps
from keras_fwi.data.presets import DatasetPreset

__all__ = [
    "NUMPY_OPS",
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


NUMPY_OPS = {"signed_log1p": log_transform, "signed_expm1": exp_transform, "to_unit": minmax_normalize,
             "from_unit": minmax_denormalize}


def seismic_bounds(dataset: str | DatasetPreset) -> tuple[float, float, float]:
    """(log-transformed data_min, log-transformed data_max, k) of ``dataset``, as Python floats.

    Raises:
        ValueError: unknown preset name, or the preset has no seismic range (``data_min``/``data_max``).
    """
    normalization = Normalization.from_preset(dataset)
    return (*normalization.seismic_bounds(), normalization.k)


def velocity_bounds(dataset: str | DatasetPreset) -> tuple[float, float]:
    """(label_min, label_max) of ``dataset`` in m/s.

    Raises:
        ValueError: unknown preset name, or the preset has no velocity range.
    """
    return Normalization.from_preset(dataset).velocity_bounds()


def normalize_seismic(seismic, dataset: str | DatasetPreset):
    """Normalise raw seismic amplitudes as OpenFWI does: log transform, then min-max to [-1, 1].

    Args:
        seismic: array of raw amplitudes, any shape (typically (batch, shots, time, receivers)).
        dataset: preset name or ``DatasetPreset`` giving ``data_min``, ``data_max`` and ``log_k``.

    Returns:
        Array of the same shape and floating dtype (float32 for integer input).
    """
    return apply_steps(Normalization.from_preset(dataset).seismic_forward(), seismic, NUMPY_OPS)


def denormalize_seismic(normalized, dataset: str | DatasetPreset):
    """Exact inverse of ``normalize_seismic``: back to raw amplitudes."""
    return apply_steps(Normalization.from_preset(dataset).seismic_inverse(), normalized, NUMPY_OPS)


def normalize_velocity(velocity, dataset: str | DatasetPreset):
    """Scale velocities in m/s from [label_min, label_max] to [-1, 1]."""
    return apply_steps(Normalization.from_preset(dataset).velocity_forward(), velocity, NUMPY_OPS)


def denormalize_velocity(normalized, dataset: str | DatasetPreset):
    """Map normalised velocities (e.g. model predictions) back to m/s."""
    return apply_steps(Normalization.from_preset(dataset).velocity_inverse(), normalized, NUMPY_OPS)
