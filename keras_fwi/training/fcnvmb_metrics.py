"""FCNVMB's own metrics (YangFangShu/FCNVMB ``func/utils.py``), named ``fcnvmb_*`` so they cannot be
mistaken for OpenFWI's, and the metric set of each dataset preset with the units of every column.

- ``fcnvmb_psnr``: ``PSNR`` of ``keras_fwi.training.metrics``, ``10 · log10(mean(truth²) / MSE)`` per
  m/s map, averaged over maps (FCNVMB stores one value per test model).
- ``fcnvmb_ssim``: FCNVMB's ``SSIM`` on m/s maps as they are (no rescaling): 11×11 Gaussian window
  (σ 1.5) with zero padding, ``C1 = (0.01 · 255)²``, ``C2 = (0.03 · 255)²`` (its ``L = 255``, an
  8-bit image's range, kept although maps are in m/s), mean over each map, averaged over maps.
  With equal-size maps that is the mean over all pixels of the set.
- ``velocity_mae``, ``velocity_rmse``: MAE and RMSE in m/s over all pixels of the set.

The reference flips each map upside down (``turn``) before both; PSNR and this SSIM (a symmetric
window with zero padding) are unchanged by flipping both maps, so no flip is made here.
"""

from __future__ import annotations

import keras

from keras_fwi.training.metrics import (
    PSNR,
    SSIM,
    VelocityMAE,
    VelocityRMSE,
    _check_range,
    _denormalize,
    openfwi_metrics,
)

__all__ = ["FCNVMB_SSIM_C1", "FCNVMB_SSIM_C2", "FcnvmbSSIM", "fcnvmb_metrics", "metric_units", "preset_metrics"]

FCNVMB_SSIM_L = 255
FCNVMB_SSIM_C1 = (0.01 * FCNVMB_SSIM_L) ** 2
FCNVMB_SSIM_C2 = (0.03 * FCNVMB_SSIM_L) ** 2


@keras.saving.register_keras_serializable(package="keras_fwi")
class FcnvmbSSIM(SSIM):
    """FCNVMB's SSIM of m/s velocity maps (``func/utils.py``), averaged over maps.

    Args:
        label_min, label_max: float, the velocity range (m/s) maps were normalised with, to compare
            them in m/s as FCNVMB does; both None (default) for maps already in m/s.
        data_format, dtype: as ``keras_fwi.training.metrics.MAE``; name default ``"fcnvmb_ssim"``.
    """

    units = "1 (FCNVMB: m/s maps, C1 = (0.01·255)², C2 = (0.03·255)²)"
    c1, c2 = FCNVMB_SSIM_C1, FCNVMB_SSIM_C2

    def __init__(self, label_min: float | None = None, label_max: float | None = None,
                 data_format: str | None = None, name: str = "fcnvmb_ssim", dtype=None):
        self.label_min, self.label_max = _check_range(label_min, label_max, optional=True)
        super().__init__(data_format=data_format, name=name, dtype=dtype)

    def _images(self, maps):
        return _denormalize(maps, self.label_min, self.label_max)

    def get_config(self):
        return {**super().get_config(), "label_min": self.label_min, "label_max": self.label_max}


def fcnvmb_metrics(label_min: float | None = None, label_max: float | None = None,
                   data_format: str | None = None) -> list[keras.metrics.Metric]:
    """FCNVMB's metrics: m/s MAE and RMSE, ``fcnvmb_psnr`` and ``fcnvmb_ssim``.

    Args:
        label_min, label_max: the velocity range (m/s) of normalised maps; both None (default) for
            maps in m/s, as FCNVMB trains.
        data_format: as ``keras_fwi.training.metrics.MAE``.
    """
    return [VelocityMAE(label_min, label_max, data_format), VelocityRMSE(label_min, label_max, data_format),
            PSNR(label_min, label_max, data_format), FcnvmbSSIM(label_min, label_max, data_format)]


def preset_metrics(preset, data_format: str | None = None) -> list[keras.metrics.Metric]:
    """The metrics of a dataset preset, each in its reference's convention.

    OpenFWI presets: OpenFWI's ``mae``/``rmse``/``ssim`` on normalised maps, ``velocity_mae``/
    ``velocity_rmse`` in m/s and ``fcnvmb_psnr``. FCNVMB presets: ``fcnvmb_metrics`` (in m/s; maps
    normalised with the preset's range are denormalised first).
    """
    if preset.format == "fcnvmb":
        ranged = preset.normalize and preset.label_min is not None
        return fcnvmb_metrics(preset.label_min if ranged else None, preset.label_max if ranged else None,
                              data_format)
    if preset.normalize:
        return openfwi_metrics(preset.label_min, preset.label_max, data_format)
    return openfwi_metrics(data_format=data_format)


def metric_units(metrics) -> dict[str, str]:
    """``{metric name: units}`` for ``metrics.json``: normalised, m/s, dB, or SSIM's convention."""
    return {metric.name: getattr(metric, "units", "unknown") for metric in metrics}
