"""What a keras_fwi ONNX file says about itself, in the model's ``metadata_props``.

Every value is a string (ONNX stores string pairs); shapes and constants are JSON. Keys:

- ``keras_fwi_version``, ``architecture`` (the Keras model's name), ``opset``, ``precision``
  (``float32`` | ``float16``),
- ``input_name``, ``input_shape`` (``[null, shots, time, receivers]``), ``input_layout``
  (``batch,shots,time,receivers``), ``input_units`` (``raw`` amplitudes or ``normalised``),
- ``output_name``, ``output_shape`` (``[null, 1, depth, width]``), ``output_layout``
  (``batch,1,depth,width``), ``output_units`` (``m/s`` or ``normalised``),
- ``normalization``: JSON of ``Normalization`` (OpenFWI's dataset constants), absent if unknown,
- ``dataset``, ``preset``: the training data's preset name and all its constants (JSON of
  ``DatasetPreset``: geometry, ranges, units), absent if unknown,
- ``source``, ``source_sha256``: the checkpoint's file name and SHA-256 (absent for an in-memory model),
- ``parity_max_abs_diff``, ``parity_mean_abs_diff``, ``parity_bound``: the check against Keras
  that the file passed (normalised output units).

TensorFlow-free: the runtime reads these.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

from keras_fwi.export.normalization import Normalization

__all__ = ["ModelInfo", "file_sha256", "read_metadata"]

INPUT_LAYOUT = "batch,shots,time,receivers"
OUTPUT_LAYOUT = "batch,1,depth,width"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """Parsed metadata of a keras_fwi ONNX model.

    Attributes:
        input_shape: (shots, time, receivers) of one sample.
        output_shape: (1, depth, width) of one velocity map.
        raw_io: True if the graph takes raw amplitudes and returns m/s.
        normalization: dataset constants, or None if the export did not know the dataset.
        props: every metadata entry, as stored.
        preset: the training data's ``DatasetPreset``, or None if the export did not know it.
    """

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    raw_io: bool
    normalization: Normalization | None
    props: dict[str, str]
    preset: "DatasetPreset | None" = None


def build_props(*, architecture: str, input_shape, output_shape, raw_io: bool,
                normalization: Normalization | None, precision: str, opset: int,
                source_name: str | None, source_sha256: str | None, preset=None) -> dict[str, str]:
    """Metadata entries for a new export (parity figures are added once verified)."""
    import keras_fwi

    props = {
        "keras_fwi_version": keras_fwi.__version__,
        "architecture": architecture,
        "opset": str(opset),
        "precision": precision,
        "input_name": "seismic",
        "input_shape": json.dumps([None, *input_shape]),
        "input_layout": INPUT_LAYOUT,
        "input_units": "raw" if raw_io else "normalised",
        "output_name": "velocity",
        "output_shape": json.dumps([None, *output_shape]),
        "output_layout": OUTPUT_LAYOUT,
        "output_units": "m/s" if raw_io else "normalised",
    }
    if normalization is not None:
        props["normalization"] = normalization.to_json()
    if preset is not None:
        props["dataset"] = preset.name
        props["preset"] = json.dumps(dataclasses.asdict(preset), sort_keys=True)
    if source_sha256 is not None:
        props["source"] = source_name or ""
        props["source_sha256"] = source_sha256
    return props


def set_props(model, props: dict[str, str]) -> None:
    """Replace an ``onnx.ModelProto``'s ``metadata_props`` with ``props``."""
    del model.metadata_props[:]
    for key, value in sorted(props.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def parse_props(props: dict[str, str], where: str = "model") -> ModelInfo:
    """Turn stored metadata into a ``ModelInfo``.

    Raises:
        ValueError: the model was not written by ``keras_fwi export`` (a key is missing or malformed).
    """
    required = ("input_shape", "output_shape", "input_units", "output_units")
    missing = [key for key in required if key not in props]
    if missing:
        raise ValueError(f"{where} has no keras_fwi metadata ({', '.join(missing)} missing); export it "
                         "with `keras_fwi export` or keras_fwi.export.export_onnx")
    try:
        input_shape = tuple(json.loads(props["input_shape"])[1:])
        output_shape = tuple(json.loads(props["output_shape"])[1:])
    except (json.JSONDecodeError, TypeError) as error:
        raise ValueError(f"{where} has malformed shape metadata: {error}") from None
    normalization = Normalization.from_json(props["normalization"]) if "normalization" in props else None
    preset = None
    if "preset" in props:
        from keras_fwi.data.presets import preset_from_dict

        try:
            preset = preset_from_dict(json.loads(props["preset"]))
        except (json.JSONDecodeError, ValueError) as error:
            raise ValueError(f"{where} has malformed preset metadata: {error}") from None
    return ModelInfo(input_shape=input_shape, output_shape=output_shape, raw_io=props["input_units"] == "raw",
                     normalization=normalization, props=dict(props), preset=preset)


def read_metadata(path: str | os.PathLike) -> ModelInfo:
    """Read a keras_fwi ONNX file's metadata with onnxruntime (no TensorFlow).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file has no keras_fwi metadata.
    """
    import onnxruntime

    if not os.path.isfile(path):
        raise FileNotFoundError(f"ONNX model {path} does not exist")
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    return parse_props(session.get_modelmeta().custom_metadata_map, where=str(path))


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
