"""keras_fwi: data-driven seismic full-waveform inversion with Keras 3 / TensorFlow.

Subpackages load on first use (``keras_fwi.models``, ``.data``, ``.physics``, ``.training``,
``.export``), so ``import keras_fwi`` and ``keras_fwi --version`` do not start TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_SUBPACKAGES = ("config", "data", "export", "models", "physics", "training")
__all__ = ["__version__", *_SUBPACKAGES]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"keras_fwi.{name}")
    raise AttributeError(f"module 'keras_fwi' has no attribute {name!r}")
