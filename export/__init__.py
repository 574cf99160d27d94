"""ONNX export and a TensorFlow-free onnxruntime runtime for keras_fwi models.

Installed as ``keras_fwi.export`` (setuptools ``package_dir``); never as a top-level ``export``.
This module must not import TensorFlow at import time: production inference runs without it.
"""

__all__: list[str] = []
