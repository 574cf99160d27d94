"""ONNX export and a TensorFlow-free onnxruntime runtime for keras_fwi models.

>>> from keras_fwi.export import export_onnx, Predictor
>>> export_onnx("run/best.keras", "inversionnet.onnx", dataset="flatvel-a", raw_io=True)
>>> velocity = Predictor("inversionnet.onnx").predict(seismic)     # raw amplitudes in, m/s out

Installed as ``keras_fwi.export`` (setuptools ``package_dir``); never as a top-level ``export``.
Names are imported on first use (PEP 562), so ``import keras_fwi.export`` and the runtime never
import TensorFlow; only ``export_onnx`` does, when called.
"""

from __future__ import annotations

import importlib

__all__ = ["ModelInfo", "Normalization", "ParityError", "Predictor", "export_onnx", "read_metadata"]

_HOMES = {
    "ModelInfo": "metadata",
    "Normalization": "normalization",
    "ParityError": "verify",
    "Predictor": "runtime",
    "export_onnx": "exporter",
    "read_metadata": "metadata",
}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
