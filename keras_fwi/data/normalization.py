"""OpenFWI's normalisation, defined once: constants from a dataset preset, transforms as step lists.

OpenFWI (``transforms.py`` of lanl/OpenFWI) feeds the network seismic amplitudes as
``sign(x) * log1p(k |x|)`` min-max scaled to [-1, 1] with the log-transformed ``data_min``/``data_max``
of the dataset, and velocity maps (m/s) min-max scaled to [-1, 1] with ``label_min``/``label_max``.

Here each transform is a tuple of ``Step``s, built in one place (``Normalization``), and applied by
an interpreter per backend from four primitives in OpenFWI's order of operations:

=================  ===================================  ===============================================
step               formula                              implementations
=================  ===================================  ===============================================
``signed_log1p``   ``sign(x) * log1p(k * |x|)``          ``transforms`` (NumPy), ``tf_transforms``,
``signed_expm1``   ``sign(y) * expm1(|y|) / k``          ``keras_fwi.export.normalization`` (ONNX nodes),
``to_unit``        ``((x - low) / (high - low) - 0.5) * 2``  ``KERAS_OPS`` below (metrics)
``from_unit``      ``(y / 2 + 0.5) * (high - low) + low``
=================  ===================================  ===============================================

A test runs every form on the same random inputs and compares them. TensorFlow-free (the ONNX
runtime uses it); ``KERAS_OPS`` imports Keras only when called.

>>> norm = Normalization.from_preset("flatvel-a")
>>> norm.seismic_forward()
(Step('signed_log1p', (1.0,)), Step('to_unit', (3.33..., 3.98...)))
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

from keras_fwi.data.presets import DatasetPreset, get_preset

__all__ = ["KERAS_OPS", "PRIMITIVES", "Normalization", "Step", "apply_steps", "signed_log1p_scalar"]

PRIMITIVES = ("signed_log1p", "signed_expm1", "to_unit", "from_unit")


class Step(NamedTuple):
    """One primitive of a transform: its name (one of ``PRIMITIVES``) and its constants."""

    op: str
    args: tuple[float, ...]


def signed_log1p_scalar(value: float, k: float) -> float:
    """``sign(x) * log1p(k |x|)`` of one Python float (the transform's bounds are computed with it)."""
    return math.copysign(math.log1p(abs(k * value)), value) if value else 0.0


def apply_steps(steps, values, ops: Mapping[str, Callable]):
    """Run ``steps`` on ``values`` with one backend's primitives (``ops[name](values, *args)``)."""
    for step in steps:
        values = ops[step.op](values, *step.args)
    return values


@dataclasses.dataclass(frozen=True)
class Normalization:
    """The constants of OpenFWI's normalisation for one dataset, and its transforms as step lists.

    Args:
        data_min: float or None, smallest raw seismic amplitude of the dataset (before the log transform).
        data_max: float or None, largest raw seismic amplitude.
        label_min: float or None, smallest velocity in m/s.
        label_max: float or None, largest velocity in m/s.
        k: float, gain inside the log transform ``log1p(k·|x|)``; OpenFWI uses 1.
        dataset: str or None, the dataset preset the constants come from (recorded, not used).

    A range may be absent (both ends None), e.g. FCNVMB's presets, which train on raw amplitudes and m/s;
    asking for its transform then raises ``ValueError``.

    Raises:
        ValueError: a constant is not finite, one end of a range is missing, a minimum is not below
            its maximum, or ``k <= 0``.
    """

    data_min: float | None
    data_max: float | None
    label_min: float | None
    label_max: float | None
    k: float = 1.0
    dataset: str | None = None

    def __post_init__(self):
        for low, high in (("data_min", "data_max"), ("label_min", "label_max")):
            ends = [getattr(self, low), getattr(self, high)]
            if ends == [None, None]:
                continue
            for field, value in zip((low, high), ends):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(f"{field} must be a finite number, got {value!r}")
                object.__setattr__(self, field, float(value))
            if getattr(self, low) >= getattr(self, high):
                raise ValueError(f"{low} must be smaller than {high}, got {getattr(self, low)} and "
                                 f"{getattr(self, high)}")
        if isinstance(self.k, bool) or not isinstance(self.k, (int, float)) or not self.k > 0:
            raise ValueError(f"k must be a positive number, got {self.k!r}")
        object.__setattr__(self, "k", float(self.k))

    @classmethod
    def from_preset(cls, dataset: str | DatasetPreset) -> "Normalization":
        """The constants of a dataset preset (name or ``DatasetPreset``)."""
        preset = get_preset(dataset)
        return cls(data_min=preset.data_min, data_max=preset.data_max, label_min=preset.label_min,
                   label_max=preset.label_max, k=preset.log_k, dataset=preset.name)

    @classmethod
    def for_dataset(cls, dataset: str | DatasetPreset) -> "Normalization":
        """``from_preset``, for a dataset whose models take normalised data (both ranges known).

        Raises:
            ValueError: unknown dataset name (the message lists the known ones), or a preset without
                seismic or velocity ranges (e.g. FCNVMB's, which trains on raw amplitudes and m/s).
        """
        normalization = cls.from_preset(dataset)
        if not normalization.complete:
            raise ValueError(f"dataset {normalization.dataset!r} has no normalisation ranges (data_min/data_max/"
                             "label_min/label_max), so its models take raw amplitudes already; export without "
                             "--dataset")
        return normalization

    @property
    def complete(self) -> bool:
        """Both ranges known: raw amplitudes in, m/s out is possible."""
        return self.data_min is not None and self.label_min is not None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Normalization":
        """Inverse of ``to_json``; raises ``ValueError`` for malformed text or unknown keys."""
        try:
            return cls(**json.loads(text))
        except (json.JSONDecodeError, TypeError) as error:
            raise ValueError(f"malformed normalisation metadata {text!r}: {error}") from None

    def seismic_bounds(self) -> tuple[float, float]:
        """Log-transformed ``(data_min, data_max)``: the min-max range of the seismic normalisation."""
        if self.data_min is None:
            raise ValueError(f"dataset {self.dataset!r} has no seismic range to normalise with; set it with "
                             f"preset.replace(data_min=..., data_max=...)")
        return signed_log1p_scalar(self.data_min, self.k), signed_log1p_scalar(self.data_max, self.k)

    def velocity_bounds(self) -> tuple[float, float]:
        """``(label_min, label_max)`` in m/s."""
        if self.label_min is None:
            raise ValueError(f"dataset {self.dataset!r} has no velocity range to normalise with; set it with "
                             f"preset.replace(label_min=..., label_max=...) in m/s")
        return self.label_min, self.label_max

    # The one definition of each transform.
    def seismic_forward(self) -> tuple[Step, ...]:
        """Raw amplitudes → network input in [-1, 1]."""
        return Step("signed_log1p", (self.k,)), Step("to_unit", self.seismic_bounds())

    def seismic_inverse(self) -> tuple[Step, ...]:
        """Network input → raw amplitudes (exact inverse of ``seismic_forward``)."""
        return Step("from_unit", self.seismic_bounds()), Step("signed_expm1", (self.k,))

    def velocity_forward(self) -> tuple[Step, ...]:
        """m/s → [-1, 1]."""
        return (Step("to_unit", self.velocity_bounds()),)

    def velocity_inverse(self) -> tuple[Step, ...]:
        """[-1, 1] (network output) → m/s."""
        return (Step("from_unit", self.velocity_bounds()),)

    # NumPy conveniences (float32, any shape), used by the TensorFlow-free ONNX runtime.
    def normalize_seismic(self, seismic):
        """Raw amplitudes → network input, float32."""
        return self._numpy(self.seismic_forward(), seismic)

    def denormalize_velocity(self, velocity):
        """Network output in [-1, 1] → m/s, float32."""
        return self._numpy(self.velocity_inverse(), velocity)

    def normalize_velocity(self, velocity_ms):
        """m/s → the network's [-1, 1] range, float32."""
        return self._numpy(self.velocity_forward(), velocity_ms)

    @staticmethod
    def _numpy(steps, values):
        import numpy as np

        from keras_fwi.data.transforms import NUMPY_OPS

        return apply_steps(steps, np.asarray(values, dtype=np.float32), NUMPY_OPS).astype(np.float32)


def _keras_ops() -> dict[str, Callable]:
    from keras import ops

    def signed_log1p(x, k):
        return ops.sign(x) * ops.log1p(ops.abs(k * x))

    def signed_expm1(y, k):
        return ops.sign(y) * ops.expm1(ops.abs(y)) / k

    def to_unit(x, low, high):
        return ((x - low) / (high - low) - 0.5) * 2.0

    def from_unit(y, low, high):
        return (y / 2.0 + 0.5) * (high - low) + low

    return {"signed_log1p": signed_log1p, "signed_expm1": signed_expm1, "to_unit": to_unit, "from_unit": from_unit}


class _LazyOps(Mapping):
    """A mapping of primitives built on first use (so importing this module does not import Keras)."""

    def __init__(self, build: Callable[[], dict]):
        self._build, self._ops = build, None

    def _table(self) -> dict:
        if self._ops is None:
            self._ops = self._build()
        return self._ops

    def __getitem__(self, name):
        return self._table()[name]

    def __iter__(self):
        return iter(self._table())

    def __len__(self):
        return len(self._table())


# Keras-ops primitives, for metrics that must run on any Keras backend.
KERAS_OPS = _LazyOps(_keras_ops)
