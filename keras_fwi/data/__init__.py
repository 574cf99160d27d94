"""Datasets for data-driven FWI: presets, OpenFWI's normalisation, and readers feeding ``tf.data``.

>>> ds = keras_fwi.data.openfwi_dataset("flatvel_a_train.txt", dataset="flatvel-a", batch_size=64)
>>> model.fit(ds, epochs=10)

Presets and the NumPy transforms import without TensorFlow (the ONNX runtime uses them); the
readers and the TF transforms are imported on first use.
"""

from __future__ import annotations

import importlib

from keras_fwi.data import transforms
from keras_fwi.data.normalization import Normalization
from keras_fwi.data.presets import DatasetPreset, get_preset, preset_names
from keras_fwi.data.transforms import (
    denormalize_seismic,
    denormalize_velocity,
    normalize_seismic,
    normalize_velocity,
)

# Public names that need TensorFlow (or scipy/segyio), resolved lazily: name -> module.
_LAZY = {
    "Augmentation": "keras_fwi.data.augment",
    "check_openfwi_files": "keras_fwi.data.checks",
    "openfwi_dataset": "keras_fwi.data.openfwi",
    "fcnvmb_dataset": "keras_fwi.data.fcnvmb",
    "read_fcnvmb_sample": "keras_fwi.data.fcnvmb",
    "read_segy_shots": "keras_fwi.data.segy",
    "segy_dataset": "keras_fwi.data.segy",
    "tf_transforms": "keras_fwi.data.tf_transforms",
}

__all__ = [
    "DatasetPreset",
    "Normalization",
    "denormalize_seismic",
    "denormalize_velocity",
    "get_preset",
    "normalize_seismic",
    "normalize_velocity",
    "preset_names",
    "transforms",
    *sorted(_LAZY),
]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = module if module.__name__.endswith(name) else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_fwi.data' has no attribute {name!r}")
