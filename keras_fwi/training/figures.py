"""PNG figures of velocity maps and shot gathers (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_fwi.io_utils import atomic_output

__all__ = ["plot_seismic", "plot_velocity_comparison"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def plot_velocity_comparison(truth, prediction, path, dx: float | None = None, overwrite: bool = True) -> Path:
    """Ground truth, prediction and their difference for each sample, one row per sample.

    Args:
        truth, prediction: arrays (samples, depth, width) in m/s.
        path: output ``.png``; written atomically.
        dx: grid spacing in m for the axes; None labels cells.
        overwrite: replace an existing file.

    Returns:
        The written path.
    """
    plt = _pyplot()
    truth, prediction = np.asarray(truth), np.asarray(prediction)
    samples = len(truth)
    low, high = float(min(truth.min(), prediction.min())), float(max(truth.max(), prediction.max()))
    limit = float(np.abs(prediction - truth).max()) or 1.0
    unit = "m" if dx else "cells"
    extent = None if dx is None else (0, truth.shape[2] * dx, truth.shape[1] * dx, 0)
    figure, axes = plt.subplots(samples, 3, figsize=(11, 3.2 * samples), squeeze=False, constrained_layout=True)
    for row in range(samples):
        panels = ((truth[row], "ground truth", "jet", low, high, "velocity (m/s)"),
                  (prediction[row], "prediction", "jet", low, high, "velocity (m/s)"),
                  (prediction[row] - truth[row], "prediction − truth", "seismic", -limit, limit, "difference (m/s)"))
        for axis, (image, title, cmap, vmin, vmax, label) in zip(axes[row], panels):
            shown = axis.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent, aspect="auto")
            axis.set_title(f"{title} (sample {row})" if row == 0 else title)
            axis.set_xlabel(f"distance ({unit})")
            axis.set_ylabel(f"depth ({unit})")
            figure.colorbar(shown, ax=axis, label=label)
    return _save(figure, path, overwrite)


def plot_seismic(seismic, path, dt: float | None = None, overwrite: bool = True) -> Path:
    """Every shot gather of one sample side by side.

    Args:
        seismic: array (shots, time, receivers), raw or normalised amplitudes.
        path: output ``.png``; written atomically.
        dt: time step in s for the time axis; None labels samples.
    """
    plt = _pyplot()
    seismic = np.asarray(seismic)
    shots, time_samples, receivers = seismic.shape
    clip = float(np.percentile(np.abs(seismic), 99)) or 1.0
    extent = None if dt is None else (0, receivers, time_samples * dt, 0)
    figure, axes = plt.subplots(1, shots, figsize=(2.6 * shots, 5), squeeze=False, constrained_layout=True)
    for shot, axis in enumerate(axes[0]):
        shown = axis.imshow(seismic[shot], cmap="gray", vmin=-clip, vmax=clip, extent=extent, aspect="auto")
        axis.set_title(f"shot {shot}")
        axis.set_xlabel("receiver")
        axis.set_ylabel("time (s)" if dt else "time sample")
    figure.colorbar(shown, ax=axes[0].tolist(), label="amplitude (clipped at the 99th percentile)")
    return _save(figure, path, overwrite)


def _save(figure, path, overwrite: bool) -> Path:
    plt = _pyplot()
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        figure.savefig(tmp, dpi=100)
    plt.close(figure)
    return path
