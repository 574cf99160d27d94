"""Keras model → ONNX graph with tf2onnx, avoiding the converters' known traps.

- The model is traced in inference mode (``training=False``): BatchNorm in training mode does not
  convert to an inference graph.
- A mixed-precision model is rebuilt as a float32 copy with the same weights first.
- The input signature is explicit, with a ``None`` batch that becomes the symbolic dimension ``batch``.
- Layout: the ONNX file always takes ``(batch, shots, time, receivers)`` and returns
  ``(batch, 1, depth, width)``. A channels-first keras_fwi model already has that layout, and tf2onnx's
  transpose optimiser cancels its boundary ``Permute`` against the NHWC↔NCHW transposes around each
  convolution; a channels-last model is converted with ``inputs_as_nchw``/``outputs_as_nchw`` so the
  same cancellation happens. Either way no ``Transpose`` is left (a test checks).

Imports TensorFlow and tf2onnx inside the functions only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["convert", "load_source"]

# `keras_fwi train` writes model.keras (final, BatchNorm statistics re-estimated; the one its metrics
# describe) and checkpoints/best.keras, checkpoints/last.keras; the first found is exported.
_RUN_DIR_CHECKPOINTS = ("model.keras", "best.keras", "last.keras")


def load_source(model_or_path):
    """Return ``(keras_model, checkpoint_path_or_None)`` for a model, a ``.keras`` file or a run directory.

    Raises:
        FileNotFoundError: the path does not exist, or a directory holds no ``.keras`` checkpoint.
        ValueError: the path is not a ``.keras`` file or a directory, or the object is not a Keras model.
    """
    import keras

    if isinstance(model_or_path, keras.Model):
        return model_or_path, None
    if not isinstance(model_or_path, (str, os.PathLike)):
        raise ValueError(f"model_or_path must be a keras.Model, a .keras file or a run directory, got "
                         f"{type(model_or_path).__name__}")
    path = Path(model_or_path)
    if path.is_dir():
        path = _checkpoint_in_run_dir(path)
    elif not path.exists():
        raise FileNotFoundError(f"model {path} does not exist")
    elif path.suffix != ".keras":
        raise ValueError(f"model {path} must be a .keras file (Keras v3 format) or a run directory, "
                         f"got a {path.suffix or 'suffix-less'} file")
    from keras_fwi.artefacts import load_model

    # safe_mode refuses Lambda layers with pickled code; keras_fwi models never need them.
    return load_model(path), path


def _checkpoint_in_run_dir(run_dir: Path) -> Path:
    for name in _RUN_DIR_CHECKPOINTS:
        for candidate in (run_dir / name, run_dir / "checkpoints" / name):
            if candidate.is_file():
                return candidate
    found = sorted(run_dir.glob("*.keras")) + sorted(run_dir.glob("checkpoints/*.keras"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(f"run directory {run_dir} holds no .keras checkpoint (looked for "
                                f"{', '.join(_RUN_DIR_CHECKPOINTS)} and *.keras)")
    raise ValueError(f"run directory {run_dir} holds several checkpoints ({', '.join(p.name for p in found)}) "
                     f"and none is named {' or '.join(_RUN_DIR_CHECKPOINTS)}; pass the .keras file itself")


def run_dir_data(run_dir: Path, samples: int = 4) -> tuple[str | None, "np.ndarray | None"]:
    """``(dataset, raw seismic samples)`` recorded by a ``keras_fwi train`` run, each None if unknown.

    The dataset comes from the run's ``config.yaml`` (``data.dataset``); the samples are the first
    ones of its validation data, as recorded in ``data.json`` (generated data included) or else
    ``data.val``, when that is on disk, for the parity check: raw amplitudes, read (and for FCNVMB
    ``.mat`` files decimated) as training reads them.
    """
    from keras_fwi.data.checks import open_npy
    from keras_fwi.data.presets import get_preset
    from keras_fwi.data.sources import resolve_sources
    from keras_fwi.run_directory import RunDirectory

    run = RunDirectory(run_dir)
    if not run.holds_run():
        return None, None
    data, val = run.config().data, run.validation_source()
    if not val:
        return data.dataset, None
    try:
        if get_preset(data.dataset).format == "fcnvmb":  # one .mat sample per file, read as training reads it
            from keras_fwi.data.fcnvmb import fcnvmb_seismic_files, read_fcnvmb_seismic

            return data.dataset, read_fcnvmb_seismic(fcnvmb_seismic_files(val, data.dataset)[:samples], data.dataset)
        first = resolve_sources(val, labels=False)[0].seismic
    except (FileNotFoundError, ValueError):  # validation data moved or deleted: random inputs only
        return data.dataset, None
    return data.dataset, np.asarray(open_npy(first)[:samples])


def float32_copy(model):
    """The model itself if all its layers compute in float32, else a float32 clone with its weights."""
    import keras

    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    config = model.get_config()
    for layer in config["layers"]:
        if "dtype" in layer["config"]:
            layer["config"]["dtype"] = "float32"
    clone = keras.Model.from_config(config)
    clone.set_weights(model.get_weights())
    return clone


def is_channels_first(model) -> bool:
    """keras_fwi builders mark the OpenFWI layout with a ``to_channels_last`` Permute after the input."""
    return any(layer.name == "to_channels_last" for layer in model.layers)


def openfwi_shapes(model) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(shots, time, receivers) and (1, depth, width) of the model, whatever its layout.

    Raises:
        ValueError: the model does not map one 4-D input to one 4-D single-channel output.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"model {model.name!r} must have one input and one output, got "
                         f"{len(model.inputs)} and {len(model.outputs)}")
    in_shape, out_shape = tuple(model.input_shape[1:]), tuple(model.output_shape[1:])
    if len(in_shape) != 3 or len(out_shape) != 3 or None in in_shape or None in out_shape:
        raise ValueError(f"model {model.name!r} must map fixed-size (batch, shots, time, receivers) to "
                         f"(batch, 1, depth, width), got {model.input_shape} -> {model.output_shape}")
    if not is_channels_first(model):
        in_shape = (in_shape[2], in_shape[0], in_shape[1])
        out_shape = (out_shape[2], out_shape[0], out_shape[1])
    if out_shape[0] != 1:
        raise ValueError(f"model {model.name!r} must output one velocity channel, got shape {model.output_shape}")
    return in_shape, out_shape


def convert(model, opset: int):
    """Convert a float32 Keras model to an ``onnx.ModelProto`` in OpenFWI layout.

    Input ``seismic`` (batch, shots, time, receivers), output ``velocity`` (batch, 1, depth, width),
    both float32 with the symbolic batch dimension ``batch``.
    """
    import tensorflow as tf
    import tf2onnx

    in_shape, _ = openfwi_shapes(model)
    channels_first = is_channels_first(model)
    keras_shape = in_shape if channels_first else (in_shape[1], in_shape[2], in_shape[0])
    signature = (tf.TensorSpec((None, *keras_shape), tf.float32, name="seismic"),)

    @tf.function(input_signature=signature)
    def serve(seismic):
        return {"velocity": model(seismic, training=False)}

    layout = {} if channels_first else {"inputs_as_nchw": ["seismic"], "outputs_as_nchw": ["velocity"]}
    proto, _ = tf2onnx.convert.from_function(serve, input_signature=signature, opset=opset, **layout)
    _name_batch_dimension(proto)
    return proto


def _name_batch_dimension(proto) -> None:
    for value_info in (*proto.graph.input, *proto.graph.output):
        value_info.type.tensor_type.shape.dim[0].dim_param = "batch"
