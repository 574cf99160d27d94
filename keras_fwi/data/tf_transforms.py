"""The transforms of ``keras_fwi.data.transforms`` for TensorFlow tensors, with identical results.

The TensorFlow primitives (``TF_OPS``) of the step lists defined once in
``keras_fwi.data.normalization``; same formulas and operation order as the NumPy ones, computed in
the tensor's floating dtype (float32 for integer input), so they can run inside ``tf.data`` maps and graphs.
"""

from __future__ import annotations

import tensorflow as tf

from keras_fwi.data.normalization import Normalization, apply_steps
from keras_fwi.data.presets import DatasetPreset

__all__ = [
    "TF_OPS",
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


# The preset lookup inside these functions is plain Python (a cached YAML read): inside a tf.data map
# or tf.function, autograph must leave it alone (it cannot convert functools.cache wrappers).
_plain_python = tf.autograph.experimental.do_not_convert

TF_OPS = {"signed_log1p": log_transform, "signed_expm1": exp_transform, "to_unit": minmax_normalize,
          "from_unit": minmax_denormalize}


@_plain_python
def normalize_seismic(seismic, dataset: str | DatasetPreset) -> tf.Tensor:
    """Log transform then min-max to [-1, 1] with the dataset's log-transformed amplitude range."""
    return apply_steps(Normalization.from_preset(dataset).seismic_forward(), _float_tensor(seismic), TF_OPS)


@_plain_python
def denormalize_seismic(normalized, dataset: str | DatasetPreset) -> tf.Tensor:
    """Exact inverse of ``normalize_seismic``."""
    return apply_steps(Normalization.from_preset(dataset).seismic_inverse(), _float_tensor(normalized), TF_OPS)


@_plain_python
def normalize_velocity(velocity, dataset: str | DatasetPreset) -> tf.Tensor:
    """Scale velocities in m/s from [label_min, label_max] to [-1, 1]."""
    return apply_steps(Normalization.from_preset(dataset).velocity_forward(), _float_tensor(velocity), TF_OPS)


@_plain_python
def denormalize_velocity(normalized, dataset: str | DatasetPreset) -> tf.Tensor:
    """Map normalised velocities back to m/s."""
    return apply_steps(Normalization.from_preset(dataset).velocity_inverse(), _float_tensor(normalized), TF_OPS)
