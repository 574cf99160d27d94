"""OpenFWI's normalisation constants, and the same normalisation as ONNX nodes for ``--raw-io`` models.

OpenFWI feeds InversionNet ``seismic`` as ``sign(x)·log1p(k·|x|)`` min–max scaled to [-1, 1] with the
log-transformed ``data_min``/``data_max`` of the dataset, and reads its tanh output back to m/s by
min–max with ``label_min``/``label_max``. A ``--raw-io`` ONNX model does both inside the graph, so a
service feeds raw amplitudes and gets m/s.

The NumPy transforms and presets are ``keras_fwi.data``'s (TensorFlow-free); ``onnx`` is imported only
inside the graph builder. The TensorFlow-free runtime uses this module.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

__all__ = ["Normalization", "add_raw_io"]


@dataclasses.dataclass(frozen=True)
class Normalization:
    """Dataset constants of OpenFWI's normalisation.

    Args:
        data_min: float, smallest raw seismic amplitude of the dataset (before the log transform).
        data_max: float, largest raw seismic amplitude.
        label_min: float, smallest velocity in m/s (1500 for every OpenFWI dataset).
        label_max: float, largest velocity in m/s (4500 for every OpenFWI dataset).
        k: float, gain inside the log transform ``log1p(k·|x|)``; OpenFWI uses 1.
        dataset: str or None, name of the dataset the constants belong to (metadata only).

    Raises:
        ValueError: a constant is not finite, or a minimum is not below its maximum, or ``k <= 0``.
    """

    data_min: float
    data_max: float
    label_min: float = 1500.0
    label_max: float = 4500.0
    k: float = 1.0
    dataset: str | None = None

    def __post_init__(self):
        for field in ("data_min", "data_max", "label_min", "label_max", "k"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{field} must be a finite number, got {value!r}")
            object.__setattr__(self, field, float(value))
        for low, high in (("data_min", "data_max"), ("label_min", "label_max")):
            if getattr(self, low) >= getattr(self, high):
                raise ValueError(f"{low} must be smaller than {high}, got {getattr(self, low)} and "
                                 f"{getattr(self, high)}")
        if self.k <= 0:
            raise ValueError(f"k must be positive, got {self.k}")

    @classmethod
    def for_dataset(cls, name: str) -> "Normalization":
        """Constants of a dataset preset (``keras_fwi.data.get_preset``), e.g. ``"flatvel-a"``.

        Raises:
            ValueError: unknown dataset name (the message lists the known ones), or a preset without
                seismic or velocity ranges (e.g. FCNVMB's, which trains on raw amplitudes and m/s).
        """
        from keras_fwi.data.presets import get_preset

        preset = get_preset(name)
        if None in (preset.data_min, preset.data_max, preset.label_min, preset.label_max):
            raise ValueError(f"dataset {preset.name!r} has no normalisation ranges (data_min/data_max/label_min/"
                             f"label_max), so its models take raw amplitudes already; export without --dataset")
        return cls(data_min=preset.data_min, data_max=preset.data_max, label_min=preset.label_min,
                   label_max=preset.label_max, k=preset.log_k, dataset=preset.name)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Normalization":
        """Inverse of ``to_json``; raises ``ValueError`` for malformed text or unknown keys."""
        try:
            fields = json.loads(text)
            return cls(**fields)
        except (json.JSONDecodeError, TypeError) as error:
            raise ValueError(f"malformed normalisation metadata {text!r}: {error}") from None

    def seismic_bounds(self) -> tuple[float, float]:
        """Log-transformed ``(data_min, data_max)``: the min-max range of the normalisation."""
        from keras_fwi.data.transforms import log_transform

        return float(log_transform(self.data_min, self.k)), float(log_transform(self.data_max, self.k))

    def seismic_affine(self) -> tuple[float, float]:
        """``(scale, shift)`` with normalised = scale·log_transform(x) + shift, in [-1, 1] on the data range."""
        low, high = self.seismic_bounds()
        scale = 2.0 / (high - low)
        return scale, -low * scale - 1.0

    def velocity_affine(self) -> tuple[float, float]:
        """``(scale, shift)`` with m/s = scale·normalised + shift (the inverse of the label min–max)."""
        half_range = (self.label_max - self.label_min) / 2.0
        return half_range, self.label_min + half_range

    # The NumPy side is keras_fwi.data.transforms (OpenFWI's order of operations); only the constants
    # come from here, since an exported model carries them in its metadata rather than a preset name.
    def normalize_seismic(self, seismic: np.ndarray) -> np.ndarray:
        """Raw amplitudes → network input, float32, any shape."""
        from keras_fwi.data.transforms import log_transform, minmax_normalize

        seismic = np.asarray(seismic, dtype=np.float32)
        return minmax_normalize(log_transform(seismic, self.k), *self.seismic_bounds()).astype(np.float32)

    def denormalize_velocity(self, velocity: np.ndarray) -> np.ndarray:
        """Network output in [-1, 1] → m/s, float32, any shape."""
        from keras_fwi.data.transforms import minmax_denormalize

        velocity = np.asarray(velocity, dtype=np.float32)
        return minmax_denormalize(velocity, self.label_min, self.label_max).astype(np.float32)

    def normalize_velocity(self, velocity_ms: np.ndarray) -> np.ndarray:
        """m/s → the network's [-1, 1] range (to compare outputs in normalised units)."""
        from keras_fwi.data.transforms import minmax_normalize

        velocity_ms = np.asarray(velocity_ms, dtype=np.float64)
        return minmax_normalize(velocity_ms, self.label_min, self.label_max).astype(np.float32)

def add_raw_io(model, normalization: Normalization, input_name: str = "seismic",
               output_name: str = "velocity"):
    """Wrap an ONNX model's graph in place: raw amplitudes in, m/s out, same input/output names.

    The network's own input and output are renamed ``{input_name}_normalised`` and
    ``{output_name}_normalised``; the new nodes compute in float32 (also around a float16 network).

    Args:
        model: ``onnx.ModelProto`` whose graph has one input ``input_name`` and one output ``output_name``.
        normalization: the dataset constants.

    Returns:
        The same ``ModelProto``.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    inner_in, inner_out = f"{input_name}_normalised", f"{output_name}_normalised"
    for node in graph.node:
        node.input[:] = [inner_in if name == input_name else name for name in node.input]
        node.output[:] = [inner_out if name == output_name else name for name in node.output]

    def const(name: str, value: float):
        graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.float32), name))
        return name

    seismic_scale, seismic_shift = normalization.seismic_affine()
    velocity_scale, velocity_shift = normalization.velocity_affine()
    p = "raw_io_"
    pre = [
        helper.make_node("Abs", [input_name], [p + "abs"]),
        helper.make_node("Mul", [p + "abs", const(p + "k", normalization.k)], [p + "k_abs"]),
        # ONNX has no Log1p; Log(1 + y) differs from log1p(y) by at most float32 rounding of 1 + y.
        helper.make_node("Add", [p + "k_abs", const(p + "one", 1.0)], [p + "one_plus"]),
        helper.make_node("Log", [p + "one_plus"], [p + "log"]),
        helper.make_node("Sign", [input_name], [p + "sign"]),
        helper.make_node("Mul", [p + "log", p + "sign"], [p + "logged"]),
        helper.make_node("Mul", [p + "logged", const(p + "seismic_scale", seismic_scale)], [p + "scaled"]),
        helper.make_node("Add", [p + "scaled", const(p + "seismic_shift", seismic_shift)], [inner_in]),
    ]
    post = [
        helper.make_node("Mul", [inner_out, const(p + "velocity_scale", velocity_scale)], [p + "velocity"]),
        helper.make_node("Add", [p + "velocity", const(p + "velocity_shift", velocity_shift)], [output_name]),
    ]
    nodes = pre + list(graph.node) + post
    del graph.node[:]
    graph.node.extend(nodes)
    for value_info in (*graph.input, *graph.output):
        if value_info.name in (input_name, output_name):
            value_info.type.tensor_type.elem_type = TensorProto.FLOAT
    return model
