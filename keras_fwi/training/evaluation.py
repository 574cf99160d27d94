"""Evaluate a model on a dataset: OpenFWI's metrics in normalised units and m/s, flip averaging."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_fwi.data import get_preset
from keras_fwi.data.transforms import denormalize_velocity
from keras_fwi.training.fcnvmb_metrics import metric_units, preset_metrics

__all__ = ["evaluate_model", "mean_map_baseline", "predict_maps", "preset_metrics"]


def _flip_seismic(seismic, data_format: str):
    """Mirror left-right: receivers reversed and shot order reversed."""
    return tf.reverse(seismic, axis=[1, 3] if data_format == "channels_first" else [2, 3])


def _flip_velocity(velocity, data_format: str):
    return tf.reverse(velocity, axis=[3] if data_format == "channels_first" else [2])


def predict_maps(model, seismic, flip_tta: bool = False, data_format: str = "channels_first"):
    """Inference-mode prediction; with ``flip_tta``, averaged with the mirrored input's mirrored prediction."""
    prediction = model(seismic, training=False)
    if flip_tta:
        mirrored = model(_flip_seismic(seismic, data_format), training=False)
        prediction = 0.5 * (prediction + _flip_velocity(mirrored, data_format))
    return prediction


def evaluate_model(model, dataset, dataset_name: str, flip_tta: bool = False,
                   data_format: str = "channels_first") -> tuple[dict, np.ndarray, np.ndarray]:
    """Metrics over the whole of ``dataset`` (normalised ``(seismic, velocity)`` batches).

    Returns:
        ``(metrics, truth, prediction)``: metric name → float (``preset_metrics``: OpenFWI's
        normalised-map MAE/RMSE/SSIM and m/s MAE/RMSE, or FCNVMB's m/s MAE/RMSE, PSNR and SSIM), plus
        ``"units"``: metric name → units; truth and prediction of the first batch in m/s,
        (batch, depth, width).
    """
    preset = get_preset(dataset_name)
    metrics = preset_metrics(preset, data_format)
    first = None
    for seismic, velocity in dataset:
        prediction = predict_maps(model, seismic, flip_tta, data_format)
        for metric in metrics:
            metric.update_state(velocity, prediction)
        if first is None:
            first = velocity.numpy(), prediction.numpy()
    results = {metric.name: float(metric.result()) for metric in metrics}
    results["units"] = metric_units(metrics)
    truth, prediction = (_to_ms(array, preset) for array in first)
    return results, truth, prediction


def _to_ms(maps: np.ndarray, preset) -> np.ndarray:
    maps = np.squeeze(maps, axis=1 if maps.shape[1] == 1 else -1)
    return denormalize_velocity(maps, preset) if preset.normalize else maps


def mean_map_baseline(train_dataset, val_dataset, dataset_name: str) -> float:
    """MAE (m/s) on ``val_dataset`` of always predicting the mean training map: the bar to beat."""
    preset = get_preset(dataset_name)
    total, count = None, 0
    for _, velocity in train_dataset:
        batch_sum = tf.reduce_sum(velocity, axis=0).numpy()
        total = batch_sum if total is None else total + batch_sum
        count += int(velocity.shape[0])
    mean_map = _to_ms((total / count)[None], preset)[0]
    errors, pixels = 0.0, 0
    for _, velocity in val_dataset:
        truth = _to_ms(velocity.numpy(), preset)
        errors += float(np.abs(truth - mean_map).sum())
        pixels += truth.size
    return errors / pixels
