"""keras_fwi: data-driven seismic full-waveform inversion with Keras 3 / TensorFlow.

Subpackages load on first use (``keras_fwi.models``, ``.data``, ``.physics``, ``.training``,
``.export``), so ``import keras_fwi`` and ``keras_fwi --version`` do not start TensorFlow. Keras
learns keras_fwi's serialisable objects (loss, metrics, schedule) as soon as Keras itself is imported
(``keras_fwi._registration``), so ``keras.saving.load_model`` opens any model keras_fwi wrote.
"""

import importlib

from keras_fwi import _registration

__version__ = "0.1.0"

_SUBPACKAGES = ("config", "data", "export", "models", "physics", "training")
__all__ = ["__version__", *_SUBPACKAGES]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"keras_fwi.{name}")
    raise AttributeError(f"module 'keras_fwi' has no attribute {name!r}")


_registration.install()
