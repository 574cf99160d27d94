"""Acoustic wave physics: the survey, OpenFWI's forward modelling, velocity-model families, datasets.

>>> from keras_fwi.physics import Survey, simulate
>>> survey = Survey.openfwi(boundary=40)
>>> seismic = simulate(velocity, survey)          # (batch, 5, 1000, 70) float32
"""

from __future__ import annotations

from keras_fwi.physics.survey import CFL_LIMIT, Survey, ricker
from keras_fwi.physics.simulate import damping_profile, simulate

__all__ = ["CFL_LIMIT", "Survey", "damping_profile", "ricker", "simulate"]
