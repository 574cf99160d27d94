"""Blocky models as few unknowns: one velocity per region of a segmented model.

OpenFWI's layered families (and much real geology) are piecewise constant: layers of one velocity
each. Fitting cell by cell, L-BFGS-B moves a whole thick layer only slowly (reflections pin its top,
not its interior), so a layer can stay hundreds of m/s off while the data misfit is small.
``segment`` groups a model's cells into regions of about one velocity (k-means over the values, then
connected regions, so two layers of similar speed stay apart); ``Blocks`` then makes each region's
velocity one unknown: ``v = detail + values[region]``, the detail (each cell's difference from its
region's mean) kept fixed, and the gradient of a region the sum of its cells' gradients.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Blocks", "segment"]


def segment(velocity: np.ndarray, levels: int) -> np.ndarray:
    """Region labels for models (batch, nz, nx) m/s: int array of that shape, labels unique over the
    batch (model ``i``'s labels follow model ``i - 1``'s).

    Each model's velocities are clustered into at most ``levels`` levels (SciPy's k-means, started at
    evenly spaced quantiles, so the result is deterministic); each level's connected cells (4-
    neighbourhood) make one region.
    """
    from scipy.cluster.vq import kmeans2
    from scipy.ndimage import label

    labels, offset = np.zeros(velocity.shape, np.int64), 0
    for index, model in enumerate(np.asarray(velocity, np.float64)):
        values = model.reshape(-1, 1)
        centres = np.unique(np.quantile(values, np.linspace(0.05, 0.95, levels)))[:, None]
        if len(centres) > 1:
            _, level = kmeans2(values, centres, minit="matrix", iter=20)
        else:
            level = np.zeros(len(values), np.int64)
        level = level.reshape(model.shape)
        for value in np.unique(level):
            regions, count = label(level == value)
            inside = regions > 0
            labels[index][inside] = regions[inside] - 1 + offset
            offset += count
    return labels


class Blocks:
    """``velocity = detail + values[labels]``: one unknown per region of ``labels`` (from ``segment``).

    Args:
        velocity: models (batch, nz, nx) m/s; ``values`` start at each region's mean of them.
        labels: int array like ``velocity``, region of each cell, 0 .. regions - 1.
        bounds: (min, max) m/s the velocities are clipped to.
    """

    def __init__(self, velocity: np.ndarray, labels: np.ndarray, bounds: tuple[float, float]):
        self.labels, self.bounds = labels, bounds
        counts = np.bincount(labels.ravel())
        self.start = np.bincount(labels.ravel(), np.asarray(velocity, np.float64).ravel()) / counts
        self.detail = velocity - self.start[labels]

    def velocity(self, values: np.ndarray) -> np.ndarray:
        """Models (batch, nz, nx) m/s for region velocities ``values`` (regions,) m/s, clipped to the bounds."""
        return np.clip(self.detail + values[self.labels], *self.bounds)

    def gradient(self, gradient: np.ndarray) -> np.ndarray:
        """d objective / d values (regions,) from d objective / d velocity (batch, nz, nx)."""
        return np.bincount(self.labels.ravel(), gradient.ravel(), minlength=len(self.start))
