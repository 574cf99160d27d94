"""The transforms of ``keras_fwi.data.transforms`` for TensorFlow tensors, with identical results.

Same formulas and operation order as the NumPy versions (see that module), computed in the tensor's
floating dtype (float32 for integer input), so they can run inside ``tf.data`` maps and graphs.
"""

from __future__ import annotations

import tensorflow as tf

from keras_fwi.data.presets import DatasetPreset
from keras_fwi.data.transforms import seismic_bounds, velocity_bounds

__all__ = [
    "denormalize_seismic",
    "denormalize_velocity",
    "exp_transform",
    "log_transform",
    "minmax_denormalize",
    "minmax_normalize",
    "normalize_seismic",
    "normalize_velocity",
]


def _float_tensor(values) -> tf.Tensor:
    values = tf.convert_to_tensor(values)
    if not values.dtype.is_floating:
        values = tf.cast(values, tf.float32)
    return values


def log_transform(values, k: float = 1.0) -> tf.Tensor:
    """``sign(x) * log1p(k * |x|)`` for tensors."""
    values = _float_tensor(values)
    return tf.sign(values) * tf.math.log1p(tf.abs(tf.constant(k, values.dtype) * values))


def exp_transform(values, k: float = 1.0) -> tf.Tensor:
    """Inverse of ``log_transform``: ``sign(y) * expm1(|y|) / k``."""
    values = _float_tensor(values)
    return tf.sign(values) * tf.math.expm1(tf.abs(values)) / tf.constant(k, values.dtype)


def minmax_normalize(values, low: float, high: float) -> tf.Tensor:
    """Map [low, high] linearly onto [-1, 1]."""
    values = _float_tensor(values)
    low_t = tf.constant(low, values.dtype)
    span = tf.constant(high - low, values.dtype)
    return ((values - low_t) / span - tf.constant(0.5, values.dtype)) * tf.constant(2.0, values.dtype)


def minmax_denormalize(values, low: float, high: float) -> tf.Tensor:
    """Inverse of ``minmax_normalize``: map [-1, 1] back onto [low, high]."""
    values = _float_tensor(values)
    half = tf.constant(0.5, values.dtype)
    return (values / tf.constant(2.0, values.dtype) + half) * tf.constant(high - low, values.dtype) \
        + tf.constant(low, values.dtype)


def normalize_seismic(seismic, dataset: str | DatasetPreset) -> tf.Tensor:
    """Log transform then min-max to [-1, 1] with the dataset's log-transformed amplitude range."""
    low, high, k = seismic_bounds(dataset)
    return minmax_normalize(log_transform(seismic, k), low, high)


def denormalize_seismic(normalized, dataset: str | DatasetPreset) -> tf.Tensor:
    """Exact inverse of ``normalize_seismic``."""
    low, high, k = seismic_bounds(dataset)
    return exp_transform(minmax_denormalize(normalized, low, high), k)


def normalize_velocity(velocity, dataset: str | DatasetPreset) -> tf.Tensor:
    """Scale velocities in m/s from [label_min, label_max] to [-1, 1]."""
    low, high = velocity_bounds(dataset)
    return minmax_normalize(velocity, low, high)


def denormalize_velocity(normalized, dataset: str | DatasetPreset) -> tf.Tensor:
    """Map normalised velocities back to m/s."""
    low, high = velocity_bounds(dataset)
    return minmax_denormalize(normalized, low, high)
