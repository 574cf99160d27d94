"""Shared by the coarse-grid and block-stage tests: a small survey and flat layered maps on it."""

from __future__ import annotations

import numpy as np

from keras_fwi.physics import Survey

# 30 x 40 cells of 10 m, 350 steps of 1 ms, 3 sources at depth cell 1 as OpenFWI's
SURVEY = Survey(nz=30, nx=40, dx=10.0, nt=350, dt=1e-3, frequency=15.0, source_z=1, source_x=[4, 17, 35],
                receiver_z=1, receiver_x=list(range(40)), boundary=12, velocity_range=(1500.0, 4500.0))


def layers(depths=(11, 21), speeds=(2000.0, 2600.0, 3200.0)) -> np.ndarray:
    """Flat layers (1, 30, 40) float32 m/s, written out here (interfaces at odd depths: between coarse cells)."""
    z = np.arange(SURVEY.nz)[:, None]
    layer = (z >= depths[0]).astype(int) + (z >= depths[1])
    return np.broadcast_to(np.asarray(speeds)[layer], (SURVEY.nz, SURVEY.nx))[None].astype(np.float32)
