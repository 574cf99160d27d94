"""Acoustic wave physics: the survey, OpenFWI's forward modelling, velocity-model families, datasets.

>>> from keras_fwi import physics
>>> survey = physics.Survey.openfwi()                       # OpenFWI's geometry, 12-cell CPML
>>> velocity = physics.velocity_models("flatvel-a", 8, seed=0)          # (8, 70, 70) m/s
>>> seismic = physics.simulate(velocity, survey)            # (8, 5, 1000, 70) float32
>>> seismic, velocity = physics.synthesize("curvevel-a", 16, survey, seed=1)   # in memory
>>> physics.generate_dataset("data/curvevel_a", "curvevel-a", samples=1000, per_file=500)
>>> result = physics.invert(seismic, start_velocity, survey, iterations=40)   # FWI: result.velocity
"""

from __future__ import annotations

from keras_fwi.physics.families import FAMILIES, velocity_model, velocity_models
from keras_fwi.physics.generate import generate_dataset, synthesize
from keras_fwi.physics.inversion import InversionResult, invert
from keras_fwi.physics.simulate import damping_profile, simulate
from keras_fwi.physics.survey import CFL_LIMIT, Survey, ricker

__all__ = ["CFL_LIMIT", "FAMILIES", "InversionResult", "Survey", "damping_profile", "generate_dataset", "invert",
           "ricker", "simulate", "synthesize", "velocity_model", "velocity_models"]
