"""Velocity-map metrics that give the numbers of the published tables, as Keras metrics.

Each metric accumulates over every batch it sees and reports the value over the whole set, the way
the references compute it after concatenating all test predictions:

- ``MAE``, ``RMSE``: mean over all pixels of the set on normalised maps ([-1, 1]). OpenFWI's
  ``test.py`` concatenates every prediction and applies ``nn.L1Loss`` / ``nn.MSELoss`` once, so its
  MSE is the mean over all pixels (not a mean of per-batch values, which differs when the last batch
  is short); RMSE is the square root of that whole-set MSE.
- ``VelocityMAE``, ``VelocityRMSE``: the same in m/s, after OpenFWI's denormalisation
  ``(x / 2 + 0.5) * (label_max - label_min) + label_min``.
- ``SSIM``: OpenFWI's ``pytorch_ssim`` on maps rescaled by ``x / 2 + 0.5``: 11×11 Gaussian window
  (σ 1.5) applied with zero padding so the SSIM map keeps the input size, C1 = 0.01², C2 = 0.03², mean
  over all pixels of the set. ``tf.image.ssim`` keeps only the valid region and gives other numbers.
- ``PSNR``: FCNVMB's ``10 · log10(mean(truth²) / MSE)`` on m/s maps (signal power, not peak), computed
  per map (FCNVMB's test script stores one value per model) and averaged over the set.

Maps may be ``(batch, 1, depth, width)`` (OpenFWI layout) or ``(batch, depth, width, 1)``; the size-1
channel axis is found from the static shape, or set with ``data_format``.

>>> model.compile(optimizer="adamw", loss="mae",
...               metrics=keras_fwi.training.metrics.openfwi_metrics(label_min=1500, label_max=4500))
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
from keras import ops

from keras_fwi._validation import one_of
from keras_fwi.data.normalization import KERAS_OPS, Step, apply_steps

__all__ = [
    "MAE",
    "PSNR",
    "RMSE",
    "SSIM",
    "VelocityMAE",
    "VelocityRMSE",
    "openfwi_metrics",
    "velocity_maps",
]

_DATA_FORMATS = ("channels_first", "channels_last")
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


def _layout_of(shape, data_format: str | None) -> str:
    """Which axis of a rank-4 map tensor is the size-1 channel axis."""
    if data_format is not None:
        return data_format
    first, last = shape[1] == 1, shape[3] == 1
    if first != last:
        return "channels_first" if first else "channels_last"
    raise ValueError(
        f"cannot tell the channel axis of velocity maps shaped {tuple(shape)}: expected (batch, 1, depth, "
        f"width) or (batch, depth, width, 1) with exactly one of axes 1 and 3 of size 1; pass "
        f"data_format='channels_first' or 'channels_last'")


def velocity_maps(maps, data_format: str | None = None):
    """Drop the size-1 channel axis of a batch of velocity maps.

    Args:
        maps: tensor or array, ``(batch, 1, depth, width)`` or ``(batch, depth, width, 1)``.
        data_format: ``"channels_first"``, ``"channels_last"``, or None to tell from the static shape.

    Returns:
        float32 tensor ``(batch, depth, width)``.

    Raises:
        ValueError: ``maps`` is not rank 4, its channel axis is not of size 1, or the layout is ambiguous
            (both axes 1 and 3 of size 1, or unknown) and ``data_format`` is None.
    """
    maps = ops.cast(ops.convert_to_tensor(maps), "float32")
    shape = tuple(maps.shape)
    if len(shape) != 4:
        raise ValueError(f"velocity maps must be rank 4, (batch, 1, depth, width) or (batch, depth, width, 1); "
                         f"got shape {shape}")
    layout = _layout_of(shape, data_format)
    channel_axis = 1 if layout == "channels_first" else 3
    if shape[channel_axis] not in (1, None):
        raise ValueError(f"velocity maps in {layout} layout must have 1 channel on axis {channel_axis}; "
                         f"got shape {shape}")
    return ops.squeeze(maps, axis=channel_axis)


def _per_map_weights(sample_weight, batch_size):
    """One float32 weight per map, shape (batch,), from None, a scalar, (batch,) or (batch, 1)."""
    if sample_weight is None:
        return ops.ones((batch_size,), "float32")
    weights = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
    shape = tuple(weights.shape)
    if len(shape) == 2 and shape[1] == 1:
        weights = ops.squeeze(weights, axis=1)
    elif len(shape) > 1:
        raise ValueError(f"sample_weight must hold one weight per velocity map, shape (batch,); got shape {shape}")
    return ops.broadcast_to(weights, (batch_size,))


def _check_range(label_min, label_max) -> tuple[float, float]:
    """Validate the velocity range of the normalisation, in m/s."""
    for name, value in (("label_min", label_min), ("label_max", label_max)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of m/s, got {value!r}")
    if not label_max > label_min:
        raise ValueError(f"label_max must be greater than label_min, got label_min={label_min!r}, "
                         f"label_max={label_max!r}")
    return float(label_min), float(label_max)


def _denormalize(maps, label_min: float, label_max: float):
    """OpenFWI's ``minmax_denormalize`` with its operation order: normalised [-1, 1] → m/s."""
    return apply_steps((Step("from_unit", (label_min, label_max)),), maps, KERAS_OPS)


def _gaussian_window() -> np.ndarray:
    """OpenFWI's 11×11 Gaussian window (σ 1.5), built in float32 like ``pytorch_ssim.create_window``."""
    centre = SSIM_WINDOW // 2
    gauss = np.array([math.exp(-((x - centre) ** 2) / (2 * SSIM_SIGMA**2)) for x in range(SSIM_WINDOW)], "float32")
    # torch's float32 sum is the correctly rounded one (numpy's pairwise float32 sum is 1 ulp lower here).
    # It matters: the window then sums to 1 - 1.2e-7 instead of 1 + 1.2e-7, and on smooth maps, whose
    # local variances are tiny next to C2, that moves the mean SSIM by ~1e-5.
    gauss = gauss / np.float32(gauss.astype("float64").sum())
    return np.outer(gauss, gauss).astype("float32")


class _MapMetric(keras.metrics.Metric):
    """Weighted mean of a per-pixel (or per-map) statistic over every map seen since the last reset.

    Subclasses implement ``_statistic(y_true, y_pred) -> (sums, units)`` on ``(batch, depth, width)``
    maps: ``sums`` (batch,) is each map's sum of the statistic and ``units`` the number of terms in each
    sum (pixels, or 1 for a per-map value), so the result is the mean over all terms of the set.
    """

    def __init__(self, data_format: str | None = None, name: str | None = None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if data_format is not None:
            one_of("data_format", data_format, _DATA_FORMATS)
        self.data_format = data_format
        self.total = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch of maps (layouts as in ``velocity_maps``); ``sample_weight`` is one weight per map."""
        y_true = velocity_maps(y_true, self.data_format)
        y_pred = velocity_maps(y_pred, self.data_format)
        if None not in y_true.shape[1:] and None not in y_pred.shape[1:] and y_true.shape[1:] != y_pred.shape[1:]:
            raise ValueError(f"{self.name}: true and predicted maps differ in size: {tuple(y_true.shape)} "
                             f"vs {tuple(y_pred.shape)} (batch, depth, width)")
        weights = _per_map_weights(sample_weight, ops.shape(y_true)[0])
        sums, units = self._statistic(y_true, y_pred)
        self.total.assign_add(ops.sum(weights * sums))
        self.count.assign_add(ops.sum(weights) * units)

    def _mean(self):
        return ops.divide_no_nan(self.total, self.count)

    def result(self):
        return self._mean()

    def _statistic(self, y_true, y_pred):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


def _pixels(maps):
    """Number of pixels per map of a (batch, depth, width) tensor, as float32."""
    return ops.cast(ops.shape(maps)[1] * ops.shape(maps)[2], "float32")


@keras.saving.register_keras_serializable(package="keras_fwi")
class MAE(_MapMetric):
    """Mean absolute error over all pixels of the set, on normalised maps (OpenFWI's MAE).

    Args:
        data_format: ``"channels_first"`` for ``(batch, 1, depth, width)``, ``"channels_last"`` for
            ``(batch, depth, width, 1)``, or None (default) to tell from the static shape.
        name: metric name, default ``"mae"``.
        dtype: result dtype, default float32.
    """

    def __init__(self, data_format: str | None = None, name: str = "mae", dtype=None):
        super().__init__(data_format=data_format, name=name, dtype=dtype)

    def _statistic(self, y_true, y_pred):
        return ops.sum(ops.abs(y_pred - y_true), axis=(1, 2)), _pixels(y_true)


@keras.saving.register_keras_serializable(package="keras_fwi")
class RMSE(_MapMetric):
    """Square root of the mean squared error over all pixels of the set, on normalised maps.

    Args: as ``MAE``; name default ``"rmse"``.
    """

    def __init__(self, data_format: str | None = None, name: str = "rmse", dtype=None):
        super().__init__(data_format=data_format, name=name, dtype=dtype)

    def _statistic(self, y_true, y_pred):
        return ops.sum(ops.square(y_pred - y_true), axis=(1, 2)), _pixels(y_true)

    def result(self):
        return ops.sqrt(self._mean())


class _VelocityMixin:
    """Denormalises both maps to m/s before the statistic; adds ``label_min``/``label_max`` to the config."""

    def _init_range(self, label_min, label_max):
        self.label_min, self.label_max = _check_range(label_min, label_max)

    def _statistic(self, y_true, y_pred):
        return super()._statistic(_denormalize(y_true, self.label_min, self.label_max),
                                  _denormalize(y_pred, self.label_min, self.label_max))

    def get_config(self):
        return {**super().get_config(), "label_min": self.label_min, "label_max": self.label_max}


@keras.saving.register_keras_serializable(package="keras_fwi")
class VelocityMAE(_VelocityMixin, MAE):
    """Mean absolute error in m/s of normalised maps, over all pixels of the set.

    Args:
        label_min, label_max: float, the velocity range (m/s) the maps were normalised with.
        data_format, dtype: as ``MAE``; name default ``"velocity_mae"``.

    Raises:
        ValueError: the range is not two finite numbers with ``label_max > label_min``.
    """

    def __init__(self, label_min: float, label_max: float, data_format: str | None = None,
                 name: str = "velocity_mae", dtype=None):
        self._init_range(label_min, label_max)
        super().__init__(data_format=data_format, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="keras_fwi")
class VelocityRMSE(_VelocityMixin, RMSE):
    """Root mean squared error in m/s of normalised maps, over all pixels of the set.

    Args: as ``VelocityMAE``; name default ``"velocity_rmse"``.
    """

    def __init__(self, label_min: float, label_max: float, data_format: str | None = None,
                 name: str = "velocity_rmse", dtype=None):
        self._init_range(label_min, label_max)
        super().__init__(data_format=data_format, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="keras_fwi")
class SSIM(_MapMetric):
    """OpenFWI's SSIM of normalised maps: mean of the same-size SSIM map over all pixels of the set.

    Maps in [-1, 1] are rescaled to [0, 1] by ``x / 2 + 0.5``; local means, variances and covariance come
    from an 11×11 Gaussian window (σ 1.5) with zero padding, C1 = 0.01², C2 = 0.03².

    Args: as ``MAE``; name default ``"ssim"``.
    """

    def __init__(self, data_format: str | None = None, name: str = "ssim", dtype=None):
        super().__init__(data_format=data_format, name=name, dtype=dtype)
        window = _gaussian_window()
        # One depthwise pass filters the five moment images at once.
        self._kernel = np.repeat(window[:, :, None, None], 5, axis=2)

    def _statistic(self, y_true, y_pred):
        # float64 inside: the variances are differences of nearly equal local moments; float32 loses
        # digits there that the reference (torch's float32 conv) happens to keep.
        x = ops.cast(y_true, "float64") / 2.0 + 0.5
        y = ops.cast(y_pred, "float64") / 2.0 + 0.5
        moments = ops.stack([x, y, x * x, y * y, x * y], axis=-1)
        kernel = ops.convert_to_tensor(self._kernel.astype("float64"))
        filtered = ops.depthwise_conv(moments, kernel, strides=1, padding="same", data_format="channels_last")
        mu_x, mu_y, xx, yy, xy = (filtered[..., i] for i in range(5))
        mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
        var_x, var_y, cov = xx - mu_xx, yy - mu_yy, xy - mu_xy
        ssim_map = ((2 * mu_xy + SSIM_C1) * (2 * cov + SSIM_C2)) / (
            (mu_xx + mu_yy + SSIM_C1) * (var_x + var_y + SSIM_C2))
        return ops.cast(ops.sum(ssim_map, axis=(1, 2)), "float32"), _pixels(y_true)


@keras.saving.register_keras_serializable(package="keras_fwi")
class PSNR(_MapMetric):
    """FCNVMB's PSNR in dB: ``10 · log10(mean(truth²) / MSE)`` per map in m/s, averaged over maps.

    The reference is signal power over error power of each map (not peak signal). A perfect map gives
    +inf, as the reference would (it divides by a zero MSE).

    Args:
        label_min, label_max: float, the velocity range (m/s) the maps were normalised with.
        data_format, dtype: as ``MAE``; name default ``"psnr"``.

    Raises:
        ValueError: the range is not two finite numbers with ``label_max > label_min``.
    """

    def __init__(self, label_min: float, label_max: float, data_format: str | None = None,
                 name: str = "psnr", dtype=None):
        self.label_min, self.label_max = _check_range(label_min, label_max)
        super().__init__(data_format=data_format, name=name, dtype=dtype)

    def _statistic(self, y_true, y_pred):
        truth = _denormalize(y_true, self.label_min, self.label_max)
        pred = _denormalize(y_pred, self.label_min, self.label_max)
        power = ops.mean(ops.square(truth), axis=(1, 2))
        mse = ops.mean(ops.square(pred - truth), axis=(1, 2))
        return 10.0 * ops.log10(power / mse), 1.0

    def get_config(self):
        return {**super().get_config(), "label_min": self.label_min, "label_max": self.label_max}


def openfwi_metrics(label_min: float | None = None, label_max: float | None = None,
                    data_format: str | None = None) -> list[keras.metrics.Metric]:
    """The metrics of OpenFWI's tables (MAE, RMSE, SSIM), plus m/s MAE/RMSE and PSNR given the range.

    Args:
        label_min, label_max: float or None, the velocity normalisation range in m/s; both or neither.
        data_format: as ``MAE``.

    Returns:
        A fresh list of metric instances for ``model.compile(metrics=...)``.

    Raises:
        ValueError: only one of ``label_min``/``label_max`` given, or an invalid range.
    """
    metrics = [MAE(data_format), RMSE(data_format), SSIM(data_format)]
    if (label_min is None) != (label_max is None):
        raise ValueError(f"give both label_min and label_max (m/s) or neither, got label_min={label_min!r}, "
                         f"label_max={label_max!r}")
    if label_min is not None:
        metrics += [VelocityMAE(label_min, label_max, data_format), VelocityRMSE(label_min, label_max, data_format),
                    PSNR(label_min, label_max, data_format)]
    return metrics
