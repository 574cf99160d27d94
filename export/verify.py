"""Check an ONNX graph and compare it with the Keras model it came from, before anything is written.

Differences are measured on the network's normalised output (the tanh range [-1, 1] of InversionNet);
a ``--raw-io`` graph's m/s are mapped back to that range first, so one bound serves both.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["FLOAT16_BOUND", "FLOAT32_BOUND", "Bound", "ParityError", "check_parity"]


@dataclasses.dataclass(frozen=True)
class Bound:
    """Largest allowed max abs and mean abs difference on normalised outputs."""

    max_abs: float
    mean_abs: float

    def __str__(self) -> str:
        return f"max abs {self.max_abs:g}, mean abs {self.mean_abs:g}"


# float32 differs from Keras only by summation order: measured max 2–4e-5, mean 2e-6 on calibrated
# InversionNets (every BatchNorm set to real batch statistics, so the tanh output spans [-1, 1]).
FLOAT32_BOUND = Bound(max_abs=1e-4, mean_abs=1e-5)
# float16 keeps 11 significant bits. On calibrated small and full InversionNets it differs from Keras
# by mean abs 1.7–5.6e-3 and max abs 2.6–6.9e-2 (a few pixels on tanh's steep middle); rounding only
# the weights to float16 and computing in float32 gives the same mean error, so this is the
# network's sensitivity, not the runtime. A wrong graph differs by O(0.1–1) on average.
FLOAT16_BOUND = Bound(max_abs=0.15, mean_abs=1e-2)


class ParityError(ValueError):
    """The ONNX graph does not compute what the Keras model computes; nothing was written."""


def check_graph(proto) -> None:
    """``onnx.checker`` with shape inference; raises ``ParityError`` with the checker's message."""
    import onnx

    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as error:
        raise ParityError(f"the converted ONNX graph is invalid: {error}") from None


def random_seismic(shape: tuple[int, ...], batch: int = 2, seed: int = 0) -> np.ndarray:
    """Normalised seismic samples in [-1, 1] (the network's input range), float32, seeded."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (batch, *shape)).astype(np.float32)


def check_parity(proto, keras_predict, seismic: np.ndarray, bound: Bound, normalization=None,
                 raw_seismic: np.ndarray | None = None) -> tuple[float, float]:
    """Run ``proto`` with onnxruntime (CPU) and compare with ``keras_predict`` on the same samples.

    Args:
        proto: ``onnx.ModelProto`` to check.
        keras_predict: callable, normalised seismic (batch, shots, time, receivers) → normalised
            velocity (batch, 1, depth, width).
        seismic: normalised input samples for Keras.
        bound: largest allowed differences on normalised outputs.
        normalization: ``Normalization`` if the graph is raw-io (m/s out), else None.
        raw_seismic: the raw amplitudes ``seismic`` was normalised from, fed to a raw-io graph.

    Returns:
        ``(max_abs, mean_abs)`` differences.

    Raises:
        ParityError: a difference exceeds ``bound`` or is not finite; the message gives both.
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = raw_seismic if normalization is not None else seismic
    (onnx_out,) = session.run(["velocity"], {"seismic": feed.astype(np.float32)})
    if normalization is not None:
        onnx_out = normalization.normalize_velocity(onnx_out)
    keras_out = np.asarray(keras_predict(seismic))
    if onnx_out.shape != keras_out.shape:
        raise ParityError(f"ONNX output shape {onnx_out.shape} differs from Keras output shape {keras_out.shape}")
    diff = np.abs(onnx_out.astype(np.float64) - keras_out.astype(np.float64))
    max_abs, mean_abs = float(np.max(diff)), float(np.mean(diff))
    if not (max_abs <= bound.max_abs and mean_abs <= bound.mean_abs):  # also catches NaN
        raise ParityError(f"ONNX output differs from Keras by max abs {max_abs:.3g}, mean abs {mean_abs:.3g} "
                          f"on normalised velocity over {len(seismic)} samples (allowed: {bound})")
    return max_abs, mean_abs
