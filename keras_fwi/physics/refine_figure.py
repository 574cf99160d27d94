"""``refine.png``: truth (if given), start, refined velocity and the refined model's data residual."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_fwi.physics.simulate import simulate
from keras_fwi.physics.survey import Survey
from keras_fwi.training.figures import _pyplot, _save

__all__ = ["plot_refinement"]

_ROWS = 4


def plot_refinement(report: dict, seismic: np.ndarray, survey: Survey, path, overwrite: bool = False) -> Path:
    """One row per sample (the first four): [truth], start, refined (m/s), and observed minus simulated
    data of the middle shot for the refined model (time in s against receiver), on the observed scale."""
    plt = _pyplot()
    shown = min(_ROWS, len(seismic))
    labels, start, refined = report["labels"], report["start"][:shown], report["velocity"][:shown]
    shot = survey.shots // 2
    residual = seismic[:shown, shot] - simulate(refined, survey).numpy()[:, shot]
    maps = ([("truth", labels[:shown])] if labels is not None else []) + [("start", start), ("refined", refined)]
    low, high = (float(f(np.stack([m for _, m in maps]))) for f in (np.min, np.max))
    extent = (0, survey.nx * survey.dx, survey.nz * survey.dx, 0)
    columns = len(maps) + 1
    figure, axes = plt.subplots(shown, columns, figsize=(3.6 * columns, 3.0 * shown), squeeze=False,
                                constrained_layout=True)
    for row in range(shown):
        for axis, (title, models) in zip(axes[row], maps):
            image = axis.imshow(models[row], cmap="jet", vmin=low, vmax=high, extent=extent, aspect="auto")
            axis.set_title(f"{title} (sample {row})")
            axis.set_xlabel("distance (m)")
            axis.set_ylabel("depth (m)")
            figure.colorbar(image, ax=axis, label="velocity (m/s)")
        scale = float(np.abs(seismic[row, shot]).max()) or 1.0
        axis = axes[row, -1]
        image = axis.imshow(residual[row], cmap="seismic", vmin=-scale / 10, vmax=scale / 10, aspect="auto",
                            extent=(0, survey.receivers, survey.nt * survey.dt, 0))
        axis.set_title(f"data residual, shot {shot} (±10% of max)")
        axis.set_xlabel("receiver")
        axis.set_ylabel("time (s)")
        figure.colorbar(image, ax=axis, label="observed − simulated")
    return _save(figure, path, overwrite)
