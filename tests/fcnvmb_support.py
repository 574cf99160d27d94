"""Tiny FCNVMB geometry shared by the FCNVMB end-to-end tests: a preset and a survey that agree."""

from __future__ import annotations

from keras_fwi.data import get_preset
from keras_fwi.physics import Survey

# 3 shots x 100 samples (20 after FCNVMB's decimation by 5) x 12 receivers over a 20 x 12 model
# (the layered families need about 3 cells per layer in depth).
TINY_SURVEY = Survey(nz=20, nx=12, dx=10.0, nt=100, dt=1e-3, frequency=25.0, source_z=1, source_x=[0, 6, 11],
                     receiver_z=1, receiver_x=list(range(12)), boundary=5)


def tiny_preset(dataset: str = "fcnvmb-simulated", name: str | None = None):
    """The FCNVMB preset ``dataset`` shrunk to ``TINY_SURVEY`` (same prefixes and variable names)."""
    return get_preset(dataset).replace(name=name or f"tiny-{dataset}", shots=3, raw_time_samples=100,
                                       time_samples=20, receivers=12, velocity_shape=(20, 12))


def register_tiny_presets(monkeypatch) -> None:
    """Make ``tiny-fcnvmb-simulated`` and ``tiny-fcnvmb-seg-salt`` known to ``get_preset`` for one test."""
    from keras_fwi.data import presets

    for dataset in ("fcnvmb-simulated", "fcnvmb-seg-salt"):
        preset = tiny_preset(dataset)
        monkeypatch.setitem(presets._all_presets(), preset.name, preset)


TINY_MODEL_OPTIONS = {"shots": 3, "time_samples": 20, "receivers": 12, "velocity_shape": [20, 12],
                      "filters": [2, 4, 8, 16, 32]}
